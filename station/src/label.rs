//! Renders envelope labels and residents' receipts to 1-bit rasters at the printer's resolution.
//!
//! Every pixel of the output is 0 (black) or 255 (white): a thermal head prints grey as mush, so
//! text coverage is thresholded at one half, QR modules are whole dots and Code128 bars are whole
//! dots. Pages are laid out top to bottom by [`Layout`], which the fixed layouts here use and
//! which [`crate::template`] drives element by element.
//!
//! The text font is DejaVu Sans (regular and bold), bundled in `station/fonts/` with its license:
//! it has every Polish letter, and bundling it means a label looks the same on every station.

use std::sync::LazyLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::GrayImage;
use qrcode::{Color, EcLevel, QrCode};
use records::IntakeId;

const BLACK: u8 = 0;
const WHITE: u8 = 255;

/// Width and resolution of the paper a label is printed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelSize {
    /// Printable width in printer dots.
    pub width_dots: u32,
    /// Printer resolution in dots per inch.
    pub dpi: u32,
}

impl LabelSize {
    /// 58 mm receipt paper on a 203 dpi head: 48 mm printable, 384 dots.
    pub const PAPER_58MM: LabelSize = LabelSize {
        width_dots: 384,
        dpi: 203,
    };
    /// 80 mm receipt paper on a 203 dpi head: 72 mm printable, 576 dots.
    pub const PAPER_80MM: LabelSize = LabelSize {
        width_dots: 576,
        dpi: 203,
    };

    /// How many dots `mm` millimetres take, rounded to whole dots.
    pub fn dots(self, mm: f32) -> u32 {
        (mm * self.dpi as f32 / 25.4).round().max(0.0) as u32
    }

    /// How many millimetres `dots` dots take.
    pub fn mm(self, dots: u32) -> f32 {
        dots as f32 * 25.4 / self.dpi.max(1) as f32
    }

    /// Font size in points as pixels at this resolution.
    pub fn px(self, pt: f32) -> f32 {
        pt * self.dpi as f32 / 72.0
    }
}

/// The label stuck on the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeLabel {
    /// The envelope's id, printed large and as Code128.
    pub intake: IntakeId,
    /// What the letter is about.
    pub category: String,
    /// The station that took it in.
    pub station_name: String,
    /// Deposit time, already formatted in local time.
    pub deposited_at: String,
}

/// The resident's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The envelope's id.
    pub intake: IntakeId,
    /// The station that took it in.
    pub station_name: String,
    /// Where the station stands (address, entrance).
    pub place: String,
    /// Deposit time, already formatted in local time: the date of receipt the resident can prove.
    pub deposited_at: String,
    /// What the letter is about.
    pub category: String,
    /// The signed receipt payload text, carried by the QR code.
    pub payload: String,
    /// Address of the status page.
    pub status_url: String,
    /// What the resident does next, one item per entry (Polish, then English).
    pub next_steps: Vec<String>,
}

/// The next-step lines an urn receipt carries unless configured otherwise.
pub fn standard_next_steps() -> Vec<String> {
    vec![
        "Wrzuć kopertę do szczeliny urny. / Put the envelope into the urn's slot.".to_owned(),
        "Zachowaj to potwierdzenie: kod QR dowodzi daty złożenia. / Keep this receipt: its QR code proves the date of deposit.".to_owned(),
    ]
}

/// Why something could not be put on a label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The QR encoder refused the data (too long for any QR version).
    #[error("cannot make a QR code of this text: {0}")]
    Qr(String),
    /// The QR code would need modules narrower than the minimum to fit the width.
    #[error(
        "QR code of {modules} modules does not fit {width} dots at {min_module} dots per module"
    )]
    QrTooWide {
        /// Modules across, quiet zone included.
        modules: u32,
        /// Dots available.
        width: u32,
        /// Smallest module size allowed.
        min_module: u32,
    },
    /// The text cannot be written in Code128.
    #[error(transparent)]
    Code128(#[from] code128::Code128Error),
    /// The barcode would not fit the width even at one dot per module.
    #[error("Code128 of {modules} modules does not fit {width} dots")]
    BarcodeTooWide {
        /// Modules across, quiet zones included.
        modules: u32,
        /// Dots available.
        width: u32,
    },
    /// One character is wider than the column at this size: it can be neither wrapped nor cut.
    #[error("character {glyph:?} is wider than the {width} dots available at this size")]
    GlyphTooWide {
        /// The character.
        glyph: char,
        /// Dots available.
        width: u32,
    },
    /// The bundled font could not be read (a broken build); nothing can be written.
    #[error("the bundled font cannot be read")]
    NoFont,
    /// The image could not be encoded as PNG.
    #[error("cannot encode the label as PNG: {0}")]
    Png(String),
}

/// Renders the envelope label: intake id large and as Code128, category, station, date.
pub fn render_envelope_label(label: &EnvelopeLabel, size: LabelSize) -> GrayImage {
    let id = label.intake.to_string();
    let mut l = Layout::new(size);
    l.gap(size.dots(1.0));
    l.text_fit(&id, 26.0, TextStyle::bold(8.0).centered());
    l.gap(size.dots(1.0));
    if let Err(e) = l.code128(&id, size.dots(10.0)) {
        // An IntakeId is always printable ASCII of bounded length, so this cannot happen; if it
        // did, the id in large print above still identifies the envelope.
        tracing::warn!(error = %e, "envelope label without barcode");
    }
    l.gap(size.dots(1.5));
    l.text(&label.category, TextStyle::bold(10.0));
    l.text(&label.station_name, TextStyle::regular(9.0));
    l.text(&label.deposited_at, TextStyle::regular(9.0));
    l.gap(size.dots(2.0));
    l.finish()
}

/// Renders the resident's receipt. Should the QR code not fit (a payload far longer than any
/// receipt's), the payload is printed as text in its place, so the proof is still on paper; use
/// [`try_render_receipt`] to treat that as an error instead.
pub fn render_receipt(receipt: &Receipt, size: LabelSize) -> GrayImage {
    match layout_receipt(receipt, size, true) {
        Ok(image) => image,
        Err(e) => {
            tracing::warn!(error = %e, "receipt QR code does not fit; printing the payload as text");
            layout_receipt(receipt, size, false).unwrap_or_else(|_| Layout::new(size).finish())
        }
    }
}

/// Renders the resident's receipt, failing if its QR code cannot be printed.
pub fn try_render_receipt(receipt: &Receipt, size: LabelSize) -> Result<GrayImage, LabelError> {
    layout_receipt(receipt, size, true)
}

fn layout_receipt(r: &Receipt, size: LabelSize, with_qr: bool) -> Result<GrayImage, LabelError> {
    let caption = TextStyle::regular(7.5);
    let mut l = Layout::new(size);
    l.gap(size.dots(1.0));
    l.text("POTWIERDZENIE ZŁOŻENIA", TextStyle::bold(12.0).centered());
    l.text("RECEIPT OF DEPOSIT", TextStyle::bold(10.0).centered());
    l.rule();
    l.text("Data złożenia / Date of deposit", caption.centered());
    l.text_fit(&r.deposited_at, 14.0, TextStyle::bold(8.0).centered());
    l.gap(size.dots(1.0));
    l.text("Numer przesyłki / Intake number", caption.centered());
    l.text_fit(&r.intake.to_string(), 22.0, TextStyle::bold(8.0).centered());
    l.rule();
    l.text("Sprawa / Category", caption);
    l.text(&r.category, TextStyle::bold(10.0));
    l.gap(size.dots(1.0));
    l.text("Urna / Station", caption);
    l.text(&r.station_name, TextStyle::regular(9.0));
    l.text("Miejsce / Place", caption);
    l.text(&r.place, TextStyle::regular(9.0));
    if with_qr {
        l.qr(&r.payload, 3, 8)?;
    } else {
        l.gap(size.dots(2.0));
        l.text(
            "Kod QR nie zmieścił się; treść potwierdzenia: / The QR code did not fit; receipt text:",
            caption,
        );
        l.text(&r.payload, TextStyle::regular(8.0));
        l.gap(size.dots(2.0));
    }
    l.text("Sprawdź status / Check the status", caption);
    l.text(&r.status_url, TextStyle::regular(9.0));
    l.rule();
    for step in &r.next_steps {
        // English on a line of its own below the Polish reads better than one run-on line.
        l.text(
            &format!("• {}", step.replacen(" / ", "\n", 1)),
            TextStyle::regular(8.5),
        );
        l.gap(size.dots(0.5));
    }
    l.gap(size.dots(3.0));
    Ok(l.finish())
}

/// Horizontal alignment of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Align {
    /// Flush with the left margin.
    #[default]
    Left,
    /// Centred between the margins.
    Center,
    /// Flush with the right margin.
    Right,
}

/// How a piece of text looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextStyle {
    /// Size in points (1/72 inch), turned into dots by the label's dpi.
    pub pt: f32,
    /// DejaVu Sans Bold instead of regular.
    pub bold: bool,
    /// Alignment of each line.
    pub align: Align,
}

impl TextStyle {
    /// Regular weight, left-aligned.
    pub fn regular(pt: f32) -> Self {
        TextStyle {
            pt,
            bold: false,
            align: Align::Left,
        }
    }

    /// Bold, left-aligned.
    pub fn bold(pt: f32) -> Self {
        TextStyle {
            bold: true,
            ..TextStyle::regular(pt)
        }
    }

    /// The same style, centred.
    pub fn centered(self) -> Self {
        TextStyle {
            align: Align::Center,
            ..self
        }
    }
}

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

/// Parsed once. The bytes are compiled in and a test renders with both faces, so `None` (no
/// text at all) never ships; it exists only because a failed parse must not panic the station.
static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    let regular = FontRef::try_from_slice(include_bytes!("../fonts/DejaVuSans.ttf")).ok()?;
    let bold = FontRef::try_from_slice(include_bytes!("../fonts/DejaVuSans-Bold.ttf")).ok()?;
    Some(Fonts { regular, bold })
});

fn font(bold: bool) -> Option<&'static FontRef<'static>> {
    FONTS
        .as_ref()
        .map(|f| if bold { &f.bold } else { &f.regular })
}

/// The characters of `text` the bundled fonts cannot draw (they would print as empty boxes).
/// Line breaks and other control characters are not counted.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    let Some(fonts) = FONTS.as_ref() else {
        return text.chars().filter(|c| !c.is_control()).collect();
    };
    let mut missing: Vec<char> = text
        .chars()
        .filter(|&c| {
            !c.is_control()
                && (fonts.regular.glyph_id(c) == GlyphId(0) || fonts.bold.glyph_id(c) == GlyphId(0))
        })
        .collect();
    missing.dedup();
    missing
}

/// Error-correction level of a QR code: how much of the code may be smudged or torn and still
/// read, bought with more modules for the same data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QrLevel {
    /// About 7 % may be lost.
    L,
    /// About 15 % may be lost; what receipts use.
    #[default]
    M,
    /// About 25 % may be lost.
    Q,
    /// About 30 % may be lost.
    H,
}

impl QrLevel {
    fn ec(self) -> EcLevel {
        match self {
            QrLevel::L => EcLevel::L,
            QrLevel::M => EcLevel::M,
            QrLevel::Q => EcLevel::Q,
            QrLevel::H => EcLevel::H,
        }
    }
}

/// How a QR code is drawn by [`Layout::qr_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QrStyle {
    /// Error-correction level.
    pub level: QrLevel,
    /// Smallest module size allowed, in whole dots; a code that would need smaller modules to
    /// fit is an error, because a scanner may not read it.
    pub min_module: u32,
    /// Largest module size, in whole dots: the widest that fits up to this is taken.
    pub max_module: u32,
    /// Where the code sits in the column.
    pub align: Align,
}

/// How a Code128 barcode is drawn by [`Layout::code128_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarcodeStyle {
    /// Bar height in dots.
    pub height: u32,
    /// Widest module in whole dots: the widest that fits up to this is taken.
    pub max_module: u32,
    /// Where the barcode sits in the column.
    pub align: Align,
    /// The encoded text printed under the bars in this style, for eyes; `None` for bars alone.
    pub human_readable: Option<TextStyle>,
}

/// How a block of text is set by [`Layout::text_block`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextBlock {
    /// Size, weight and alignment.
    pub style: TextStyle,
    /// Break lines at the column width; without it a line too wide is cut and ends with "…".
    pub wrap: bool,
    /// At most this many lines; the last one shown ends with "…" when more were cut.
    pub max_lines: Option<u32>,
    /// Shrink from `style.pt` down to this size (points) so the widest line fits on one line.
    pub shrink_to_pt: Option<f32>,
}

/// What [`Layout::text_block`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextSet {
    /// Lines drawn.
    pub lines: u32,
    /// Rows each line takes.
    pub line_height: u32,
    /// The size used, after any shrinking.
    pub pt: f32,
    /// Whether anything was cut (and "…" printed in its place).
    pub truncated: bool,
}

/// Whether the bundled fonts (both faces) can draw `c`.
pub fn can_draw(c: char) -> bool {
    FONTS.as_ref().is_some_and(|fonts| {
        fonts.regular.glyph_id(c) != GlyphId(0) && fonts.bold.glyph_id(c) != GlyphId(0)
    })
}

/// `image` as PNG bytes: what `urna label render` writes and what a person can look at.
pub fn encode_png(image: &GrayImage) -> Result<Vec<u8>, LabelError> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| LabelError::Png(e.to_string()))?;
    Ok(bytes.into_inner())
}

/// A page built top to bottom: each element is placed at the cursor, across the column (by
/// default the paper width less 1 mm each side), and the cursor moves below it. The page is
/// white; elements only ever add black dots, and it grows as elements are added.
#[derive(Clone)]
pub struct Layout {
    size: LabelSize,
    /// First dot of the column elements are placed in.
    left: u32,
    /// Width of that column in dots.
    width: u32,
    /// Row where the next element's top goes.
    cursor: u32,
    /// Rows the page has so far.
    height: u32,
    /// Row-major, one byte per dot, `size.width_dots` per row.
    dots: Vec<u8>,
}

impl Layout {
    /// An empty page with 1 mm side margins.
    pub fn new(size: LabelSize) -> Self {
        let margin = size.dots(1.0).min(size.width_dots / 8);
        Layout::with_margins(size, margin, margin)
    }

    /// An empty page whose column leaves `left` and `right` dots of side margin.
    pub fn with_margins(size: LabelSize, left: u32, right: u32) -> Self {
        let left = left.min(size.width_dots);
        Layout {
            size,
            left,
            width: size.width_dots.saturating_sub(left).saturating_sub(right),
            cursor: 0,
            height: 0,
            dots: Vec::new(),
        }
    }

    /// The paper this page is for.
    pub fn size(&self) -> LabelSize {
        self.size
    }

    /// The column elements are placed in: its first dot and its width.
    pub fn column(&self) -> (u32, u32) {
        (self.left, self.width)
    }

    /// Places the following elements in the column from dot `left`, `width` dots wide (both
    /// clamped to the page).
    pub fn set_column(&mut self, left: u32, width: u32) {
        self.left = left.min(self.size.width_dots);
        self.width = width.min(self.size.width_dots - self.left);
    }

    /// Row where the next element's top goes.
    pub fn cursor(&self) -> u32 {
        self.cursor
    }

    /// Places the next element's top at row `y`, above or below what is already there.
    pub fn set_cursor(&mut self, y: u32) {
        self.cursor = y;
    }

    /// Rows the page has so far.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Makes the page at least `rows` tall, adding white rows at the bottom.
    pub fn ensure_height(&mut self, rows: u32) {
        if rows > self.height {
            self.height = rows;
            self.dots
                .resize(self.size.width_dots as usize * rows as usize, WHITE);
        }
    }

    /// Takes `rows` rows at the cursor, growing the page if needed; returns the first.
    fn grow(&mut self, rows: u32) -> u32 {
        let top = self.cursor;
        self.cursor = self.cursor.saturating_add(rows);
        self.ensure_height(self.cursor);
        top
    }

    /// Blackens the dots of a rectangle that lie on the page.
    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        let row = self.size.width_dots as usize;
        let (x0, x1) = (
            x.min(self.size.width_dots),
            x.saturating_add(w).min(self.size.width_dots),
        );
        for yy in y..y.saturating_add(h).min(self.height) {
            let start = yy as usize * row;
            self.dots[start + x0 as usize..start + x1 as usize].fill(BLACK);
        }
    }

    /// Adds white space of `dots` rows.
    pub fn gap(&mut self, dots: u32) {
        self.grow(dots);
    }

    /// Adds a horizontal line across the content width, with a little space around it.
    pub fn rule(&mut self) {
        let pad = self.size.dots(1.0);
        let thick = self.size.dots(0.25).max(1);
        self.hline(thick, pad);
    }

    /// Adds a horizontal line `thickness` dots thick across the column, with `pad` white rows
    /// above and below it.
    pub fn hline(&mut self, thickness: u32, pad: u32) {
        let top = self.grow(pad + thickness + pad);
        self.fill(self.left, top + pad, self.width, thickness);
    }

    /// Draws the outline of a rectangle, its lines `thickness` dots thick inside its edges,
    /// growing the page to hold it. The cursor does not move.
    pub fn frame(&mut self, x: u32, y: u32, w: u32, h: u32, thickness: u32) {
        if w == 0 || h == 0 {
            return;
        }
        self.ensure_height(y.saturating_add(h));
        let t = thickness.max(1);
        self.fill(x, y, w, t.min(h));
        self.fill(x, (y + h).saturating_sub(t).max(y), w, t.min(h));
        self.fill(x, y, t.min(w), h);
        self.fill((x + w).saturating_sub(t).max(x), y, t.min(w), h);
    }

    /// Adds text wrapped at the content width: at spaces where it can, inside a word (an
    /// address, say) where a word alone is wider than the line. `\n` starts a new line.
    pub fn text(&mut self, text: &str, style: TextStyle) {
        let Some(font) = font(style.bold) else { return };
        let scaled = font.as_scaled(PxScale::from(self.size.px(style.pt)));
        let width = self.width as f32;
        for line in wrap(&scaled, text, width) {
            self.draw_line(&scaled, &line, style.align);
        }
    }

    /// Adds one line of text at up to `max_pt`, shrunk to fit the width; below `style.pt` (the
    /// smallest size allowed) it wraps instead. For what must be read at a glance: the id, the date.
    pub fn text_fit(&mut self, text: &str, max_pt: f32, style: TextStyle) {
        let Some(font) = font(style.bold) else { return };
        let width = self.width as f32;
        let mut pt = max_pt;
        let measured = measure(&font.as_scaled(PxScale::from(self.size.px(pt))), text);
        if measured > width {
            // Advances scale linearly with size; the small step down absorbs kerning rounding.
            pt = (pt * width / measured * 0.98).max(style.pt);
        }
        self.text(text, TextStyle { pt, ..style });
    }

    /// Adds a block of text as `block` says: shrunk to one line if asked, wrapped or cut at the
    /// column width, at most `max_lines` lines. Fails, drawing nothing, only when a single
    /// character is wider than the column (it could neither wrap nor be cut) or the font is gone.
    pub fn text_block(&mut self, text: &str, block: &TextBlock) -> Result<TextSet, LabelError> {
        let style = block.style;
        let font = font(style.bold).ok_or(LabelError::NoFont)?;
        let width = self.width as f32;
        let widest = |pt: f32| {
            let scaled = font.as_scaled(PxScale::from(self.size.px(pt)));
            text.split('\n')
                .map(|p| measure(&scaled, p))
                .fold(0.0_f32, f32::max)
        };
        let mut pt = style.pt;
        if let Some(min_pt) = block.shrink_to_pt {
            let mut measured = widest(pt);
            // Advances scale almost linearly with size; each step down also absorbs the kerning
            // and hinting that do not, and a few steps always settle it.
            for _ in 0..8 {
                if measured <= width || pt <= min_pt {
                    break;
                }
                pt = (pt * width / measured * 0.98).max(min_pt);
                measured = widest(pt);
            }
        }
        let scaled = font.as_scaled(PxScale::from(self.size.px(pt)));
        for c in text.chars().filter(|c| !c.is_control()) {
            if scaled.h_advance(scaled.glyph_id(c)) > width {
                return Err(LabelError::GlyphTooWide {
                    glyph: c,
                    width: self.width,
                });
            }
        }
        let mut truncated = false;
        let mut lines = if block.wrap {
            wrap(&scaled, text, width)
        } else {
            let mut lines = Vec::new();
            for line in text.split('\n') {
                if measure(&scaled, line) <= width {
                    lines.push(line.to_owned());
                } else {
                    truncated = true;
                    lines.push(ellipsize(&scaled, line, width)?);
                }
            }
            lines
        };
        if let Some(max) = block.max_lines {
            let max = max.max(1) as usize;
            if lines.len() > max {
                lines.truncate(max);
                truncated = true;
                if let Some(last) = lines.last_mut() {
                    *last = ellipsize(&scaled, last, width)?;
                }
            }
        }
        for line in &lines {
            self.draw_line(&scaled, line, style.align);
        }
        Ok(TextSet {
            lines: lines.len() as u32,
            line_height: line_rows(&scaled),
            pt,
            truncated,
        })
    }

    fn draw_line<F: Font>(&mut self, scaled: &ab_glyph::PxScaleFont<&F>, line: &str, align: Align) {
        let ascent = scaled.ascent().ceil();
        let top = self.grow(line_rows(scaled));
        let room = self.width as f32 - measure(scaled, line);
        let left = self.left as f32
            + match align {
                Align::Left => 0.0,
                Align::Center => (room / 2.0).max(0.0).floor(),
                Align::Right => room.max(0.0),
            };
        // Ink that a glyph's overhang would put past the column is dropped: the margins and a
        // box's frame stay clean whatever the text.
        let (clip_left, clip_right) = (i64::from(self.left), i64::from(self.left + self.width));
        let mut caret = left;
        let mut previous: Option<GlyphId> = None;
        for c in line.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                caret += scaled.kern(p, id);
            }
            let glyph =
                id.with_scale_and_position(scaled.scale(), point(caret, top as f32 + ascent));
            caret += scaled.h_advance(id);
            previous = Some(id);
            if let Some(outline) = scaled.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                let (x0, y0) = (bounds.min.x as i64, bounds.min.y as i64);
                let (row, height) = (i64::from(self.size.width_dots), i64::from(self.height));
                let dots = &mut self.dots;
                // Half coverage or more is black, less is white: no grey for the thermal head.
                outline.draw(|x, y, coverage| {
                    let (x, y) = (x0 + i64::from(x), y0 + i64::from(y));
                    if coverage >= 0.5 && x >= clip_left && x < clip_right && y >= 0 && y < height {
                        dots[(y * row + x) as usize] = BLACK;
                    }
                });
            }
        }
    }

    /// The dots the symbol of a code may span in the column, given that its quiet zone of
    /// `quiet` dots on each side may reach into the margins but not past the paper's edge.
    fn span(&self, quiet: u32) -> (u32, u32) {
        let lo = self.left.max(quiet);
        let hi = (self.left + self.width).min(self.size.width_dots.saturating_sub(quiet));
        (lo, hi.max(lo))
    }

    /// Adds a QR code of `data` (error correction level M) centred, with modules of between
    /// `min_module` and `max_module` whole dots and a quiet zone of 4 modules on every side.
    pub fn qr(&mut self, data: &str, min_module: u32, max_module: u32) -> Result<(), LabelError> {
        self.qr_with(
            data,
            &QrStyle {
                level: QrLevel::M,
                min_module,
                max_module,
                align: Align::Center,
            },
        )
        .map(|_| ())
    }

    /// Adds a QR code of `data` as `style` says, with the largest whole-dot module size in its
    /// range that fits the column and a quiet zone of 4 modules on every side (which may reach
    /// into the side margins). Returns the module size in dots.
    pub fn qr_with(&mut self, data: &str, style: &QrStyle) -> Result<u32, LabelError> {
        let code = QrCode::with_error_correction_level(data.as_bytes(), style.level.ec())
            .map_err(|e| LabelError::Qr(e.to_string()))?;
        let n = code.width() as u32;
        let quiet = 4;
        let module = (style.min_module.max(1)..=style.max_module)
            .rev()
            .find(|&m| {
                let (lo, hi) = self.span(quiet * m);
                hi - lo >= n * m
            })
            .ok_or(LabelError::QrTooWide {
                modules: n + 2 * quiet,
                width: self.width,
                min_module: style.min_module,
            })?;
        let (lo, hi) = self.span(quiet * module);
        let left = aligned(lo, hi, n * module, style.align);
        let top = self.grow((n + 2 * quiet) * module) + quiet * module;
        for (i, color) in code.to_colors().into_iter().enumerate() {
            if color == Color::Dark {
                let (x, y) = (i as u32 % n, i as u32 / n);
                self.fill(left + x * module, top + y * module, module, module);
            }
        }
        Ok(module)
    }

    /// Adds `text` as a Code128 (code set B) barcode `height` dots tall, centred, with bars of
    /// the widest whole number of dots (up to 4 per module) that fits with 10-module quiet zones.
    pub fn code128(&mut self, text: &str, height: u32) -> Result<(), LabelError> {
        self.code128_with(
            text,
            &BarcodeStyle {
                height,
                max_module: 4,
                align: Align::Center,
                human_readable: None,
            },
        )
        .map(|_| ())
    }

    /// Adds `text` as a Code128 (code set B) barcode as `style` says, with bars of the widest
    /// whole number of dots up to `style.max_module` that fits with 10-module quiet zones (which
    /// may reach into the side margins). Returns the module size in dots.
    pub fn code128_with(&mut self, text: &str, style: &BarcodeStyle) -> Result<u32, LabelError> {
        let widths = code128::widths(text)?;
        let bars: u32 = widths.iter().map(|&w| u32::from(w)).sum();
        let quiet = 10;
        let module = (1..=style.max_module.max(1))
            .rev()
            .find(|&m| {
                let (lo, hi) = self.span(quiet * m);
                hi - lo >= bars * m
            })
            .ok_or(LabelError::BarcodeTooWide {
                modules: bars + 2 * quiet,
                width: self.width,
            })?;
        let (lo, hi) = self.span(quiet * module);
        let mut x = aligned(lo, hi, bars * module, style.align);
        let top = self.grow(style.height);
        for (i, &w) in widths.iter().enumerate() {
            let w = u32::from(w) * module;
            // Elements alternate bar, space, bar …, starting with a bar.
            if i % 2 == 0 {
                self.fill(x, top, w, style.height);
            }
            x += w;
        }
        if let Some(text_style) = style.human_readable {
            self.gap(self.size.dots(0.5));
            self.text_block(
                text,
                &TextBlock {
                    style: TextStyle {
                        align: style.align,
                        ..text_style
                    },
                    wrap: true,
                    max_lines: None,
                    shrink_to_pt: None,
                },
            )?;
        }
        Ok(module)
    }

    /// The page so far as an image, `width_dots` wide.
    pub fn finish(self) -> GrayImage {
        let width = self.size.width_dots;
        GrayImage::from_raw(width, self.height, self.dots)
            // `dots` always holds exactly width × height bytes (see `ensure_height`).
            .unwrap_or_else(|| GrayImage::new(width, 0))
    }
}

/// Where a run `size` dots long starts between `lo` and `hi` when aligned as `align` says.
fn aligned(lo: u32, hi: u32, size: u32, align: Align) -> u32 {
    let room = (hi - lo).saturating_sub(size);
    lo + match align {
        Align::Left => 0,
        Align::Center => room / 2,
        Align::Right => room,
    }
}

fn line_rows<F: Font>(scaled: &ab_glyph::PxScaleFont<&F>) -> u32 {
    ((scaled.ascent() - scaled.descent() + scaled.line_gap()).ceil() as u32).max(1)
}

/// `line` cut so that it and a closing "…" fit `width`, the "…" always added: it tells the
/// reader something is missing.
fn ellipsize<F: Font>(
    scaled: &ab_glyph::PxScaleFont<&F>,
    line: &str,
    width: f32,
) -> Result<String, LabelError> {
    let mut kept = line.trim_end().to_owned();
    loop {
        let candidate = format!("{kept}…");
        if measure(scaled, &candidate) <= width {
            return Ok(candidate);
        }
        if kept.pop().is_none() {
            return Err(LabelError::GlyphTooWide {
                glyph: '…',
                width: width as u32,
            });
        }
        kept.truncate(kept.trim_end().len());
    }
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the dots themselves: a receipt is a few hundred thousand of them.
        f.debug_struct("Layout")
            .field("size", &self.size)
            .field("left", &self.left)
            .field("width", &self.width)
            .field("cursor", &self.cursor)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

fn measure<F: Font>(scaled: &ab_glyph::PxScaleFont<&F>, text: &str) -> f32 {
    let mut width = 0.0;
    let mut previous: Option<GlyphId> = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

/// Greedy line breaking: as many words on a line as fit; a word wider than a line is split
/// between characters.
fn wrap<F: Font>(scaled: &ab_glyph::PxScaleFont<&F>, text: &str, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if measure(scaled, &candidate) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for c in word.chars() {
                line.push(c);
                if measure(scaled, &line) > width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::replace(&mut line, c.to_string()));
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// Code128, code set B (printable ASCII), as bar and space widths in modules.
///
/// Written here rather than taken from a crate: an encoder for one code set is a symbol table
/// and a checksum, and its widths go straight onto the page as whole printer dots, which is what
/// a thermal head needs. A crate would bring its own image output to convert, for a few dozen
/// lines saved. The table is ISO/IEC 15417's; the tests check its structure and golden patterns.
pub mod code128 {
    /// Symbol value that starts code set B.
    pub const START_B: u8 = 104;
    /// Symbol value of the stop pattern.
    pub const STOP: u8 = 106;

    /// Bar/space widths of each symbol value 0–106, bar first; 106 (stop) has a seventh
    /// element, the 2-module termination bar.
    pub const PATTERNS: [&[u8]; 107] = [
        b"212222", b"222122", b"222221", b"121223", b"121322", b"131222", b"122213", b"122312",
        b"132212", b"221213", b"221312", b"231212", b"112232", b"122132", b"122231", b"113222",
        b"123122", b"123221", b"223211", b"221132", b"221231", b"213212", b"223112", b"312131",
        b"311222", b"321122", b"321221", b"312212", b"322112", b"322211", b"212123", b"212321",
        b"232121", b"111323", b"131123", b"131321", b"112313", b"132113", b"132311", b"211313",
        b"231113", b"231311", b"112133", b"112331", b"132131", b"113123", b"113321", b"133121",
        b"313121", b"211331", b"231131", b"213113", b"213311", b"213131", b"311123", b"311321",
        b"331121", b"312113", b"312311", b"332111", b"314111", b"221411", b"431111", b"111224",
        b"111422", b"121124", b"121421", b"141122", b"141221", b"112214", b"112412", b"122114",
        b"122411", b"142112", b"142211", b"241211", b"221114", b"413111", b"241112", b"134111",
        b"111242", b"121142", b"121241", b"114212", b"124112", b"124211", b"411212", b"421112",
        b"421211", b"212141", b"214121", b"412121", b"111143", b"111341", b"131141", b"114113",
        b"114311", b"411113", b"411311", b"113141", b"114131", b"311141", b"411131", b"211412",
        b"211214", b"211232", b"2331112",
    ];

    /// Why a text cannot be written in code set B.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum Code128Error {
        /// Nothing to encode.
        #[error("nothing to put in a barcode")]
        Empty,
        /// A character outside printable ASCII.
        #[error("character {found:?} at position {position} is not in Code128 code set B")]
        NotInCodeSetB {
            /// The character.
            found: char,
            /// 1-based position in the text.
            position: usize,
        },
    }

    /// The symbol values of `text`: start B, one per character, the check symbol, stop.
    pub fn symbols(text: &str) -> Result<Vec<u8>, Code128Error> {
        if text.is_empty() {
            return Err(Code128Error::Empty);
        }
        let mut symbols = vec![START_B];
        let mut sum = u32::from(START_B);
        for (i, c) in text.chars().enumerate() {
            // Code set B holds ASCII 32–127 as values 0–95.
            let value = match c {
                ' '..='\u{7f}' => c as u8 - b' ',
                _ => {
                    return Err(Code128Error::NotInCodeSetB {
                        found: c,
                        position: i + 1,
                    });
                }
            };
            sum += (i as u32 + 1) * u32::from(value);
            symbols.push(value);
        }
        symbols.push((sum % 103) as u8);
        symbols.push(STOP);
        Ok(symbols)
    }

    /// The element widths in modules of `text`'s barcode, bar first, quiet zones not included.
    pub fn widths(text: &str) -> Result<Vec<u8>, Code128Error> {
        Ok(symbols(text)?
            .into_iter()
            .flat_map(|s| PATTERNS[usize::from(s)].iter().map(|d| d - b'0'))
            .collect())
    }
}
