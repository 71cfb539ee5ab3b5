//! Label templates: what goes on a label of a given size, as data an office can change without
//! a new build. The format is described for people who write templates in
//! `label-templates/README.md`; this module reads it, refuses a broken template when it is
//! loaded (naming the file, the element and the reason), and renders a template with the values
//! of one intake to a 1-bit raster through [`crate::label::Layout`].
//!
//! A template is TOML: a header (paper width, optional fixed height, dpi, margins, printer family)
//! and `[[element]]` tables laid out top to bottom: text, QR code, Code128, line, box, gap. Text
//! and codes carry `{field}` placeholders from a closed set ([`Field`]), filled at print time
//! from [`Fields`].
//!
//! Loading does more than parse: it lays the template out once with one-character values in
//! every field, so that anything that cannot fit even then (a literal line wider than the label,
//! a QR code whose smallest size is too wide, content taller than a fixed-size label) is a load
//! error and not a surprise at the kiosk with a resident waiting.
//!
//! The shipped templates are compiled in ([`Template::builtin`]), so a station prints with no
//! template folder; a folder named in the configuration adds to them or replaces them by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use image::GrayImage;
use serde::Deserialize;

use crate::label::{
    self, Align, BarcodeStyle, EnvelopeLabel, LabelError, LabelSize, Layout, QrLevel, QrStyle,
    Receipt, TextBlock, TextStyle,
};

/// A value longer than this is refused at render time: no label field is anywhere near it, and
/// laying out megabytes of text would stall the station.
pub const MAX_VALUE_CHARS: usize = 4096;

/// The longest page a continuous-roll template may produce.
pub const MAX_CONTINUOUS_MM: f32 = 2000.0;

/// What is printed in place of a character the bundled font cannot draw.
const UNDRAWABLE: char = '?';

/// The shipped templates, compiled in: name and TOML text.
const BUILTIN: [(&str, &str); 10] = [
    (
        "envelope-58mm",
        include_str!("../../label-templates/envelope-58mm.toml"),
    ),
    (
        "receipt-58mm",
        include_str!("../../label-templates/receipt-58mm.toml"),
    ),
    (
        "envelope-80mm",
        include_str!("../../label-templates/envelope-80mm.toml"),
    ),
    (
        "receipt-80mm",
        include_str!("../../label-templates/receipt-80mm.toml"),
    ),
    (
        "brother-ql-62mm",
        include_str!("../../label-templates/brother-ql-62mm.toml"),
    ),
    (
        "zebra-100x150",
        include_str!("../../label-templates/zebra-100x150.toml"),
    ),
    (
        "zebra-2x1in",
        include_str!("../../label-templates/zebra-2x1in.toml"),
    ),
    (
        "quarantine-bin",
        include_str!("../../label-templates/quarantine-bin.toml"),
    ),
    (
        "quarantine-bin-80mm",
        include_str!("../../label-templates/quarantine-bin-80mm.toml"),
    ),
    (
        "quarantine-bin-58mm",
        include_str!("../../label-templates/quarantine-bin-58mm.toml"),
    ),
];

/// The names of the templates compiled into the station, in the order they are listed.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

// ---------------------------------------------------------------------------------------------
// Fields

macro_rules! fields {
    ($($variant:ident $name:literal $sample:literal $doc:literal;)*) => {
        /// A value filled in at print time, written `{name}` in a template. The set is closed: a
        /// template naming anything else is refused when loaded, so a typo never prints as a
        /// blank on a resident's receipt.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Field {
            $(#[doc = $doc] $variant,)*
        }

        impl Field {
            /// Every field, in the order the documentation lists them.
            pub const ALL: &'static [Field] = &[$(Field::$variant,)*];

            /// The name written between braces in a template and after `--field`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            /// What the field holds, for people writing templates.
            pub fn description(self) -> &'static str {
                match self {
                    $(Field::$variant => $doc,)*
                }
            }

            /// A realistic value, for trying a template (`urna label render --sample`).
            pub fn sample(self) -> &'static str {
                match self {
                    $(Field::$variant => $sample,)*
                }
            }
        }
    };
}

fields! {
    IntakeId "intake_id" "GW7K-222K-8"
        "The envelope's intake id as printed, e.g. GW7K-222K-8.";
    DepositTime "deposit_time" "2025-11-22 00:46"
        "Date and time of deposit, local time: the legal date of receipt.";
    DepositDate "deposit_date" "2025-11-22"
        "Date of deposit alone.";
    StationName "station_name" "Urna przy wejściu głównym"
        "The name of the station (urn or mailroom counter) that took the envelope in.";
    Place "place" "Urząd Miasta, ul. Żółkiewskiego 5, Łódź"
        "Where the station stands: building, address, entrance.";
    Category "category" "Podatki i opłaty lokalne / Local taxes and fees"
        "What the letter is about, Polish / English.";
    Department "department" "Wydział Finansowy / Finance Department"
        "The department the letter goes to.";
    Channel "channel" "urna / urn"
        "How the letter came in: urn, counter or post.";
    Reference "reference" "FN.3120.15.2025"
        "The case reference (sygnatura) from the resident's form, when there is one.";
    HoldUntil "hold_until" "2025-11-24 14:00"
        "End of the sanitising hold, date and time, local.";
    HoldUntilDate "hold_until_date" "2025-11-24"
        "Date the sanitising hold ends.";
    HoldUntilTime "hold_until_time" "14:00"
        "Time of day the sanitising hold ends.";
    Bin "bin" "K-3"
        "The quarantine bin's number or name.";
    ReceiptPayload "receipt_payload"
        "URNA1:GW7K-222K-8:1763768771:34750F98BD59FCFC:FHLOV7JM2USOKRCYWANUWJFDIUK3JSX7V6EW7WIWXI7YFV2IXMDIZOTS5Q2QUDA5BH2Z3PKKLZKF7LOSDKJCQEB5KPRHSWMSSMAJ6BA"
        "The signed receipt payload, for the receipt's QR code.";
    StatusUrl "status_url" "https://urzad.example.pl/status"
        "Address of the resident's status page.";
    PrintedAt "printed_at" "2025-11-22 09:15"
        "When the label is printed, local time.";
}

impl Field {
    /// The field called `name` (without braces).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.name() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn known_field_names() -> String {
    Field::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a field given as text (`--field key=value`) was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// No field has this name.
    #[error("unknown field `{0}`; known fields: {known}", known = known_field_names())]
    Unknown(String),
    /// Not of the form `key=value`.
    #[error("`{0}` is not of the form key=value")]
    NotAssignment(String),
}

impl FromStr for Field {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Field, FieldError> {
        Field::from_name(s).ok_or_else(|| FieldError::Unknown(s.to_owned()))
    }
}

/// The values of one label's fields. A field a template uses but that has no value here is a
/// render error ([`RenderProblem::MissingField`]): a receipt printed with a blank where the
/// place or the date should be is worse than a printer fault the kiosk reports. To leave a field
/// empty on purpose, set it to "".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    values: BTreeMap<Field, String>,
}

impl Fields {
    /// No values.
    pub fn new() -> Self {
        Fields::default()
    }

    /// Every field set to its [`Field::sample`] value.
    pub fn sample() -> Self {
        Field::ALL
            .iter()
            .map(|&f| (f, f.sample().to_owned()))
            .collect()
    }

    /// Sets `field` to `value`, replacing any earlier value.
    pub fn set(&mut self, field: Field, value: impl Into<String>) -> &mut Self {
        self.values.insert(field, value.into());
        self
    }

    /// These values with `field` set to `value`.
    pub fn with(mut self, field: Field, value: impl Into<String>) -> Self {
        self.set(field, value);
        self
    }

    /// The value of `field`, if set.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.values.get(&field).map(String::as_str)
    }

    /// Sets a field from `key=value` text (the value may itself contain `=`); returns which.
    pub fn set_assignment(&mut self, assignment: &str) -> Result<Field, FieldError> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| FieldError::NotAssignment(assignment.to_owned()))?;
        let field = key.trim().parse::<Field>()?;
        self.set(field, value);
        Ok(field)
    }

    /// The fields that have values, with them.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        self.values.iter().map(|(&f, v)| (f, v.as_str()))
    }

    /// The values an envelope label carries.
    pub fn for_envelope(label: &EnvelopeLabel) -> Self {
        Fields::new()
            .with(Field::IntakeId, label.intake.to_string())
            .with(Field::Category, &label.category)
            .with(Field::StationName, &label.station_name)
            .with(Field::DepositTime, &label.deposited_at)
    }

    /// The values a resident's receipt carries (its next steps are the template's own text).
    pub fn for_receipt(receipt: &Receipt) -> Self {
        Fields::new()
            .with(Field::IntakeId, receipt.intake.to_string())
            .with(Field::StationName, &receipt.station_name)
            .with(Field::Place, &receipt.place)
            .with(Field::DepositTime, &receipt.deposited_at)
            .with(Field::Category, &receipt.category)
            .with(Field::ReceiptPayload, &receipt.payload)
            .with(Field::StatusUrl, &receipt.status_url)
    }
}

impl FromIterator<(Field, String)> for Fields {
    fn from_iter<I: IntoIterator<Item = (Field, String)>>(iter: I) -> Self {
        Fields {
            values: iter.into_iter().collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// The kinds of element a template is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElementKind {
    /// Text, with fields.
    Text,
    /// A QR code.
    Qr,
    /// A Code128 barcode.
    Code128,
    /// A horizontal line.
    Line,
    /// A rectangle's outline.
    Box,
    /// White space.
    Gap,
}

impl ElementKind {
    const ALL: [ElementKind; 6] = [
        ElementKind::Text,
        ElementKind::Qr,
        ElementKind::Code128,
        ElementKind::Line,
        ElementKind::Box,
        ElementKind::Gap,
    ];

    /// The name written as `kind = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            ElementKind::Text => "text",
            ElementKind::Qr => "qr",
            ElementKind::Code128 => "code128",
            ElementKind::Line => "line",
            ElementKind::Box => "box",
            ElementKind::Gap => "gap",
        }
    }

    fn from_name(name: &str) -> Option<ElementKind> {
        ElementKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ElementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A template that cannot be used, found when it is loaded. Displayed on one line as
/// `label-templates/receipt-58mm.toml: element 3 (qr): module_dots must be at least 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The file (or built-in template) the error is in.
    pub file: String,
    /// The element it is in, counted from 1 in the order of `[[element]]` tables, with its kind
    /// as written; `None` for the header or the file as a whole.
    pub element: Option<(usize, String)>,
    /// What is wrong, and where it helps, what is allowed.
    pub reason: String,
}

impl TemplateError {
    fn file(file: &str, reason: impl Into<String>) -> Self {
        TemplateError {
            file: file.to_owned(),
            element: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some((index, kind)) = &self.element {
            write!(f, "element {index} ({kind}): ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for TemplateError {}

/// Why a template could not be rendered with the given values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderProblem {
    /// The template uses a field that has no value.
    #[error("no value given for field {{{0}}}")]
    MissingField(Field),
    /// A value is longer than [`MAX_VALUE_CHARS`].
    #[error("the value of {{{field}}} is {chars} characters long; at most {max} are printed")]
    ValueTooLong {
        /// The field.
        field: Field,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// Content reaches below the bottom margin of a fixed-size label.
    #[error("the content reaches {by_dots} dots below the label's bottom margin")]
    Overflow {
        /// How far, in dots.
        by_dots: u32,
    },
    /// A continuous-roll page longer than [`MAX_CONTINUOUS_MM`].
    #[error("the page would be longer than {max_mm} mm")]
    TooLong {
        /// The limit in millimetres.
        max_mm: u32,
    },
    /// A box leaves no width for what is inside it.
    #[error("the box leaves no room inside it")]
    NoRoom,
    /// A text had to be cut. Only while a template is checked at load, where it means a
    /// template's own text is wider than the label or longer than its `max_lines`.
    #[error(
        "the text does not fit (wider than the label with wrap = false, or more lines than max_lines)"
    )]
    Truncated,
    /// The text, QR code or barcode cannot be drawn.
    #[error(transparent)]
    Label(#[from] LabelError),
}

/// A template that could not be rendered with the given values, naming the element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{template}: {}{problem}", element.map(|(i, k)| format!("element {i} ({k}): ")).unwrap_or_default())]
pub struct RenderError {
    /// The template's name.
    pub template: String,
    /// The element, counted from 1, with its kind; `None` for the page as a whole.
    pub element: Option<(usize, ElementKind)>,
    /// What went wrong.
    pub problem: RenderProblem,
}

// ---------------------------------------------------------------------------------------------
// The template file, as written

/// The printer family a template is made for: a hint for the print path, which picks the
/// language (the raster is the same whatever the family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterFamily {
    /// ESC/POS receipt printers (58 mm and 80 mm rolls).
    Escpos,
    /// Zebra label printers (ZPL).
    Zpl,
    /// Brother QL label printers.
    BrotherQl,
}

impl PrinterFamily {
    /// The name written as `printer = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            PrinterFamily::Escpos => "escpos",
            PrinterFamily::Zpl => "zpl",
            PrinterFamily::BrotherQl => "brother_ql",
        }
    }
}

impl fmt::Display for PrinterFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    name: String,
    description: String,
    printer: PrinterFamily,
    dpi: u32,
    width_mm: f32,
    width_dots: Option<u32>,
    height_mm: Option<f32>,
    margins_mm: toml::Value,
    #[serde(default)]
    element: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarginsSpec {
    top: f32,
    right: f32,
    bottom: f32,
    left: f32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AlignSpec {
    Left,
    Center,
    Right,
}

impl From<AlignSpec> for Align {
    fn from(a: AlignSpec) -> Align {
        match a {
            AlignSpec::Left => Align::Left,
            AlignSpec::Center => Align::Center,
            AlignSpec::Right => Align::Right,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum LevelSpec {
    L,
    M,
    Q,
    H,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextSpec {
    text: String,
    size_pt: f32,
    #[serde(default)]
    bold: bool,
    align: Option<AlignSpec>,
    wrap: Option<bool>,
    max_lines: Option<u32>,
    #[serde(default)]
    fit: bool,
    min_size_pt: Option<f32>,
    x_mm: Option<f32>,
    y_mm: Option<f32>,
    width_mm: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QrSpec {
    data: String,
    ec_level: Option<LevelSpec>,
    module_dots: Option<i64>,
    min_module_dots: Option<i64>,
    max_module_dots: Option<i64>,
    align: Option<AlignSpec>,
    x_mm: Option<f32>,
    y_mm: Option<f32>,
    width_mm: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Code128Spec {
    data: String,
    height_mm: f32,
    max_module_dots: Option<i64>,
    #[serde(default)]
    human_readable: bool,
    text_size_pt: Option<f32>,
    align: Option<AlignSpec>,
    x_mm: Option<f32>,
    y_mm: Option<f32>,
    width_mm: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineSpec {
    thickness_dots: Option<i64>,
    pad_mm: Option<f32>,
    x_mm: Option<f32>,
    y_mm: Option<f32>,
    width_mm: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GapSpec {
    height_mm: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoxSpec {
    around: Option<i64>,
    x_mm: Option<f32>,
    y_mm: Option<f32>,
    width_mm: Option<f32>,
    height_mm: Option<f32>,
    thickness_dots: Option<i64>,
    padding_mm: Option<f32>,
}

// ---------------------------------------------------------------------------------------------
// The template, checked

/// Margins in dots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Margins {
    /// White rows above the first element.
    pub top: u32,
    /// White dots right of the column.
    pub right: u32,
    /// White rows below the last element (on a fixed-size label, rows nothing may reach into).
    pub bottom: u32,
    /// White dots left of the column.
    pub left: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field(Field),
}

/// Text with `{field}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Piece>);

/// How a value is put into a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// For printed text: control characters become spaces and characters the font lacks
    /// become [`UNDRAWABLE`], so a stray byte never prints as an empty box or breaks a line.
    Text,
    /// For codes: exactly as given, since the code must carry exactly the value.
    Exact,
}

impl Pattern {
    fn parse(s: &str) -> Result<Pattern, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => {
                                return Err(format!(
                                    "`{{{name}` has no closing `}}` (write `{{{{` for a brace)"
                                ));
                            }
                        }
                    }
                    let field = Field::from_name(&name).ok_or_else(|| {
                        format!(
                            "unknown field {{{name}}}; known fields: {}",
                            known_field_names()
                        )
                    })?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field));
                }
                '}' => {
                    return Err("`}` without an opening `{` (write `}}` for a brace)".to_owned());
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Pattern(pieces))
    }

    fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.0.iter().filter_map(|p| match p {
            Piece::Field(f) => Some(*f),
            Piece::Literal(_) => None,
        })
    }

    fn has_fields(&self) -> bool {
        self.fields().next().is_some()
    }

    fn literal_text(&self) -> String {
        self.0
            .iter()
            .filter_map(|p| match p {
                Piece::Literal(s) => Some(s.as_str()),
                Piece::Field(_) => None,
            })
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn fill<'v>(
        &self,
        values: &dyn Fn(Field) -> Option<&'v str>,
        how: Fill,
    ) -> Result<String, RenderProblem> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Field(f) => {
                    let value = values(*f).ok_or(RenderProblem::MissingField(*f))?;
                    let chars = value.chars().count();
                    if chars > MAX_VALUE_CHARS {
                        return Err(RenderProblem::ValueTooLong {
                            field: *f,
                            chars,
                            max: MAX_VALUE_CHARS,
                        });
                    }
                    match how {
                        Fill::Exact => out.push_str(value),
                        Fill::Text => out.extend(value.chars().map(|c| {
                            if c.is_control() {
                                ' '
                            } else if label::can_draw(c) {
                                c
                            } else {
                                UNDRAWABLE
                            }
                        })),
                    }
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Text {
        text: Pattern,
        block: TextBlock,
    },
    Qr {
        data: Pattern,
        style: QrStyle,
    },
    Code128 {
        data: Pattern,
        style: BarcodeStyle,
    },
    Line {
        thickness: u32,
        pad: u32,
    },
    Gap {
        height: u32,
    },
    /// A frame around the next `count` elements, which are set inside it.
    BoxAround {
        count: usize,
        thickness: u32,
        padding: u32,
    },
    /// A frame at a fixed place, outside the flow.
    BoxAt {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
        thickness: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Element {
    kind: ElementKind,
    body: Body,
    /// Column for this element alone: first dot and width.
    column: Option<(u32, u32)>,
    /// Row for this element's top; the flow continues below it.
    y: Option<u32>,
}

impl Element {
    fn pattern(&self) -> Option<&Pattern> {
        match &self.body {
            Body::Text { text, .. } => Some(text),
            Body::Qr { data, .. } | Body::Code128 { data, .. } => Some(data),
            _ => None,
        }
    }

    fn has_fields(&self) -> bool {
        self.pattern().is_some_and(Pattern::has_fields)
    }
}

/// A checked label template, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    name: String,
    description: String,
    source: String,
    printer: PrinterFamily,
    dpi: u32,
    width_mm: f32,
    height_mm: Option<f32>,
    width_dots: u32,
    height_dots: Option<u32>,
    margins: Margins,
    elements: Vec<Element>,
}

/// Whether a layout is for printing or for checking a template at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Print,
    Check,
}

struct Open {
    index: usize,
    end: usize,
    top: u32,
    left: u32,
    width: u32,
    thickness: u32,
    padding: u32,
}

impl Template {
    /// The built-in template called `name` (see [`builtin_names`]).
    pub fn builtin(name: &str) -> Result<Template, TemplateError> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            TemplateError::file(
                name,
                format!(
                    "no built-in template of this name; built in: {}",
                    builtin_names().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let template = Template::from_toml(&format!("label-templates/{name}.toml"), text)?;
        if template.name != name {
            return Err(TemplateError::file(
                &template.source,
                format!("name = {:?} does not match the file name", template.name),
            ));
        }
        Ok(template)
    }

    /// Reads and checks the template in `path`; its `name` must be the file's name without
    /// `.toml`, so that the name a configuration uses always finds this file.
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TemplateError::file(&file, format!("cannot read the file: {e}")))?;
        let template = Template::from_toml(&file, &text)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if template.name != stem {
            return Err(TemplateError::file(
                &file,
                format!(
                    "name = {:?} does not match the file name (expected name = {stem:?})",
                    template.name
                ),
            ));
        }
        Ok(template)
    }

    /// Parses and checks a template's TOML text; `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Template, TemplateError> {
        let spec: FileSpec = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let before = text.get(..span.start).unwrap_or(text);
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!("line {line}, column {column}: ")
                })
                .unwrap_or_default();
            TemplateError::file(file, format!("{at}{}", one_line(e.message())))
        })?;
        Checker::new(file).template(spec)
    }

    /// Renders the label with `fields`: a strictly black (0) and white (255) image at the
    /// template's dpi, [`width_dots`](Self::width_dots) wide and, on a fixed-size label,
    /// exactly its height.
    pub fn render(&self, fields: &Fields) -> Result<GrayImage, RenderError> {
        self.lay_out(&|f| fields.get(f), Mode::Print)
    }

    /// The template's name (its file name without `.toml`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the template is for, one line.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Where the template was loaded from, as errors name it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The printer family the template is made for.
    pub fn printer(&self) -> PrinterFamily {
        self.printer
    }

    /// Printer resolution in dots per inch.
    pub fn dpi(&self) -> u32 {
        self.dpi
    }

    /// Width of the paper or label in millimetres.
    pub fn width_mm(&self) -> f32 {
        self.width_mm
    }

    /// Height of a fixed-size label in millimetres; `None` on a continuous roll.
    pub fn height_mm(&self) -> Option<f32> {
        self.height_mm
    }

    /// Width of the rendered image: the dots the printer prints across.
    pub fn width_dots(&self) -> u32 {
        self.width_dots
    }

    /// Height of the rendered image on a fixed-size label; `None` on a continuous roll, where
    /// the height follows the content.
    pub fn height_dots(&self) -> Option<u32> {
        self.height_dots
    }

    /// The margins, in dots.
    pub fn margins(&self) -> Margins {
        self.margins
    }

    /// Width and resolution, as the label module takes them.
    pub fn label_size(&self) -> LabelSize {
        LabelSize {
            width_dots: self.width_dots,
            dpi: self.dpi,
        }
    }

    /// The fields the template uses: each needs a value in [`Fields`] to render.
    pub fn fields(&self) -> BTreeSet<Field> {
        self.elements
            .iter()
            .filter_map(Element::pattern)
            .flat_map(Pattern::fields)
            .collect()
    }

    /// Whether the template has a QR code or barcode carrying `field`.
    pub fn encodes(&self, field: Field) -> bool {
        self.elements.iter().any(|e| match &e.body {
            Body::Qr { data, .. } | Body::Code128 { data, .. } => data.fields().any(|f| f == field),
            _ => false,
        })
    }

    fn lay_out<'v>(
        &self,
        values: &dyn Fn(Field) -> Option<&'v str>,
        mode: Mode,
    ) -> Result<GrayImage, RenderError> {
        let page_error = |problem| RenderError {
            template: self.name.clone(),
            element: None,
            problem,
        };
        let m = self.margins;
        let size = self.label_size();
        let limit = match self.height_dots {
            Some(h) => h - m.bottom,
            None => size.dots(MAX_CONTINUOUS_MM),
        };
        let mut l = Layout::with_margins(size, m.left, m.right);
        l.gap(m.top);
        let mut open: Vec<Open> = Vec::new();
        for (i, el) in self.elements.iter().enumerate() {
            let error = |index: usize, problem| RenderError {
                template: self.name.clone(),
                element: Some((index + 1, self.elements[index].kind)),
                problem,
            };
            let column = l.column();
            if let Some(y) = el.y {
                l.set_cursor(y);
            }
            if let Some((left, width)) = el.column {
                l.set_column(left, width);
            }
            self.element(el, &mut l, values, mode, &mut open, i)
                .map_err(|p| error(i, p))?;
            // Only an element's own column ends with it; a box's inner column lasts until the
            // box closes.
            if el.column.is_some() {
                l.set_column(column.0, column.1);
            }
            self.check_height(&l, limit).map_err(|p| error(i, p))?;
            while open.last().is_some_and(|b| b.end == i) {
                let Some(b) = open.pop() else { break };
                l.gap(b.padding);
                let bottom = l.cursor() + b.thickness;
                l.frame(b.left, b.top, b.width, bottom - b.top, b.thickness);
                l.set_cursor(bottom);
                l.set_column(b.left, b.width);
                self.check_height(&l, limit)
                    .map_err(|p| error(b.index, p))?;
            }
        }
        match self.height_dots {
            Some(h) => l.ensure_height(h),
            None => {
                let end = l.height().max(l.cursor()) + m.bottom;
                if end > limit {
                    return Err(page_error(RenderProblem::TooLong {
                        max_mm: MAX_CONTINUOUS_MM as u32,
                    }));
                }
                l.ensure_height(end);
            }
        }
        Ok(l.finish())
    }

    fn check_height(&self, l: &Layout, limit: u32) -> Result<(), RenderProblem> {
        if l.height() <= limit {
            return Ok(());
        }
        Err(match self.height_dots {
            Some(_) => RenderProblem::Overflow {
                by_dots: l.height() - limit,
            },
            None => RenderProblem::TooLong {
                max_mm: MAX_CONTINUOUS_MM as u32,
            },
        })
    }

    fn element<'v>(
        &self,
        el: &Element,
        l: &mut Layout,
        values: &dyn Fn(Field) -> Option<&'v str>,
        mode: Mode,
        open: &mut Vec<Open>,
        index: usize,
    ) -> Result<(), RenderProblem> {
        match &el.body {
            Body::Text { text, block } => {
                let text = text.fill(values, Fill::Text)?;
                let set = l.text_block(&text, block)?;
                if mode == Mode::Check {
                    if set.truncated {
                        return Err(RenderProblem::Truncated);
                    }
                    // On a fixed-size label the check must hold for the longest text that can
                    // be printed, and a text with fields can take all of its max_lines.
                    if let (Some(_), Some(max), true) =
                        (self.height_dots, block.max_lines, el.has_fields())
                    {
                        l.gap(max.saturating_sub(set.lines) * set.line_height);
                    }
                }
            }
            Body::Qr { data, style } => {
                l.qr_with(&data.fill(values, Fill::Exact)?, style)?;
            }
            Body::Code128 { data, style } => {
                l.code128_with(&data.fill(values, Fill::Exact)?, style)?;
            }
            Body::Line { thickness, pad } => l.hline(*thickness, *pad),
            Body::Gap { height } => l.gap(*height),
            Body::BoxAround {
                count,
                thickness,
                padding,
            } => {
                let (left, width) = l.column();
                let inset = thickness + padding;
                if width <= 2 * inset {
                    return Err(RenderProblem::NoRoom);
                }
                open.push(Open {
                    index,
                    end: index + count,
                    top: l.cursor(),
                    left,
                    width,
                    thickness: *thickness,
                    padding: *padding,
                });
                l.gap(inset);
                l.set_column(left + inset, width - 2 * inset);
            }
            Body::BoxAt {
                x,
                y,
                width,
                height,
                thickness,
            } => l.frame(*x, *y, *width, *height, *thickness),
        }
        Ok(())
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// Checking a template as it is loaded

struct Checker<'a> {
    file: &'a str,
}

/// Limits that catch typos (a size in dots written as millimetres, say) without getting in the
/// way of any real label.
const DPI_RANGE: (u32, u32) = (100, 1200);
const MAX_WIDTH_MM: f32 = 300.0;
const MAX_HEIGHT_MM: f32 = 2000.0;
const PT_RANGE: (f32, f32) = (4.0, 200.0);
const MAX_MODULE_DOTS: i64 = 40;
const MAX_BAR_MODULE_DOTS: i64 = 10;
const MAX_LINE_DOTS: i64 = 100;
const MAX_LINES: u32 = 100;

/// Where an element is checked: the page it goes on.
struct Page {
    size: LabelSize,
    height: Option<u32>,
    margins: Margins,
}

impl<'a> Checker<'a> {
    fn new(file: &'a str) -> Self {
        Checker { file }
    }

    fn header(&self, reason: impl Into<String>) -> TemplateError {
        TemplateError::file(self.file, reason)
    }

    fn template(&self, spec: FileSpec) -> Result<Template, TemplateError> {
        if spec.name.trim().is_empty() {
            return Err(self.header("name must not be empty"));
        }
        if !(DPI_RANGE.0..=DPI_RANGE.1).contains(&spec.dpi) {
            return Err(self.header(format!(
                "dpi must be between {} and {} (found {})",
                DPI_RANGE.0, DPI_RANGE.1, spec.dpi
            )));
        }
        let width_mm =
            positive("width_mm", spec.width_mm, MAX_WIDTH_MM).map_err(|r| self.header(r))?;
        let height_mm = spec
            .height_mm
            .map(|h| positive("height_mm", h, MAX_HEIGHT_MM))
            .transpose()
            .map_err(|r| self.header(r))?;
        let paper = LabelSize {
            width_dots: 0,
            dpi: spec.dpi,
        }
        .dots(width_mm);
        let width_dots = match spec.width_dots {
            Some(w) if w == 0 || w > paper => {
                return Err(self.header(format!(
                    "width_dots must be between 1 and the paper's {paper} dots ({width_mm} mm at {} dpi); found {w}",
                    spec.dpi
                )));
            }
            Some(w) => w,
            None => paper,
        };
        let size = LabelSize {
            width_dots,
            dpi: spec.dpi,
        };
        let height_dots = height_mm.map(|h| size.dots(h));
        let margins = self.margins(&spec.margins_mm, size, height_dots)?;
        let page = Page {
            size,
            height: height_dots,
            margins,
        };
        let mut elements = Vec::with_capacity(spec.element.len());
        for (i, table) in spec.element.into_iter().enumerate() {
            elements.push(self.element(i + 1, table, &page)?);
        }
        self.boxes(&elements)?;
        let template = Template {
            name: spec.name,
            description: one_line(&spec.description),
            source: self.file.to_owned(),
            printer: spec.printer,
            dpi: spec.dpi,
            width_mm,
            height_mm,
            width_dots,
            height_dots,
            margins,
            elements,
        };
        // One-character values are the least any real label has: what fails with them fails
        // with every value, so it is the template's fault and refused now.
        template.lay_out(&|_| Some("0"), Mode::Check).map_err(|e| {
            let has_fields = e
                .element
                .is_some_and(|(i, _)| template.elements[i - 1].has_fields());
            TemplateError {
                file: self.file.to_owned(),
                element: e.element.map(|(i, k)| (i, k.to_string())),
                reason: if has_fields {
                    format!("{} (even with one-character field values)", e.problem)
                } else {
                    e.problem.to_string()
                },
            }
        })?;
        Ok(template)
    }

    fn margins(
        &self,
        value: &toml::Value,
        size: LabelSize,
        height: Option<u32>,
    ) -> Result<Margins, TemplateError> {
        let mm = match value {
            toml::Value::Float(_) | toml::Value::Integer(_) => {
                let all = value.as_float().or(value.as_integer().map(|i| i as f64));
                let all = all.unwrap_or_default() as f32;
                MarginsSpec {
                    top: all,
                    right: all,
                    bottom: all,
                    left: all,
                }
            }
            toml::Value::Table(_) => value.clone().try_into().map_err(|e: toml::de::Error| {
                self.header(format!("margins_mm: {}", one_line(e.message())))
            })?,
            _ => {
                return Err(self.header(
                    "margins_mm must be a number (all four sides) or a table { top, right, bottom, left }",
                ));
            }
        };
        let mut dots = [0; 4];
        for (slot, (side, v)) in dots.iter_mut().zip([
            ("top", mm.top),
            ("right", mm.right),
            ("bottom", mm.bottom),
            ("left", mm.left),
        ]) {
            *slot = size.dots(
                non_negative(&format!("margins_mm.{side}"), v, 100.0)
                    .map_err(|r| self.header(r))?,
            );
        }
        let margins = Margins {
            top: dots[0],
            right: dots[1],
            bottom: dots[2],
            left: dots[3],
        };
        if margins.left + margins.right >= size.width_dots {
            return Err(self.header(format!(
                "the left and right margins ({} + {} dots) leave no room on a label {} dots wide",
                margins.left, margins.right, size.width_dots
            )));
        }
        if let Some(h) = height
            && margins.top + margins.bottom >= h
        {
            return Err(self.header(format!(
                "the top and bottom margins ({} + {} dots) leave no room on a label {h} dots tall",
                margins.top, margins.bottom
            )));
        }
        Ok(margins)
    }

    fn element(
        &self,
        index: usize,
        mut table: toml::Table,
        page: &Page,
    ) -> Result<Element, TemplateError> {
        let kinds = ElementKind::ALL.map(ElementKind::name).join(", ");
        let kind_text = match table.remove("kind") {
            Some(toml::Value::String(s)) => s,
            Some(other) => {
                return Err(TemplateError {
                    file: self.file.to_owned(),
                    element: Some((index, "?".to_owned())),
                    reason: format!("kind must be a string, one of {kinds}; found {other}"),
                });
            }
            None => {
                return Err(TemplateError {
                    file: self.file.to_owned(),
                    element: Some((index, "?".to_owned())),
                    reason: format!("kind is missing: one of {kinds}"),
                });
            }
        };
        let fail = |reason: String| TemplateError {
            file: self.file.to_owned(),
            element: Some((index, kind_text.clone())),
            reason,
        };
        let kind = ElementKind::from_name(&kind_text)
            .ok_or_else(|| fail(format!("unknown kind; expected one of {kinds}")))?;
        let value = toml::Value::Table(table);
        let parse = |e: toml::de::Error| fail(one_line(e.message()));
        let ctx = ElementCheck { page, kind };
        match kind {
            ElementKind::Text => ctx.text(value.try_into().map_err(parse)?),
            ElementKind::Qr => ctx.qr(value.try_into().map_err(parse)?),
            ElementKind::Code128 => ctx.code128(value.try_into().map_err(parse)?),
            ElementKind::Line => ctx.line(value.try_into().map_err(parse)?),
            ElementKind::Gap => ctx.gap(value.try_into().map_err(parse)?),
            ElementKind::Box => ctx.boxed(value.try_into().map_err(parse)?),
        }
        .map_err(fail)
    }

    /// Boxes drawn around elements must close inside the template and nest, and what they hold
    /// flows inside them (a fixed place would leave the frame).
    fn boxes(&self, elements: &[Element]) -> Result<(), TemplateError> {
        let mut open: Vec<(usize, usize)> = Vec::new();
        for (i, el) in elements.iter().enumerate() {
            let fail = |reason: String| TemplateError {
                file: self.file.to_owned(),
                element: Some((i + 1, el.kind.to_string())),
                reason,
            };
            while open.last().is_some_and(|&(_, end)| end < i) {
                open.pop();
            }
            if let Some(&(outer, _)) = open.last()
                && (el.y.is_some() || el.column.is_some())
            {
                return Err(fail(format!(
                    "x_mm, y_mm and width_mm cannot be used inside the box of element {}",
                    outer + 1
                )));
            }
            if let Body::BoxAround { count, .. } = el.body {
                let end = i + count;
                if end >= elements.len() {
                    return Err(fail(format!(
                        "around = {count}, but only {} element(s) follow",
                        elements.len() - i - 1
                    )));
                }
                if let Some(&(outer, outer_end)) = open.last()
                    && end > outer_end
                {
                    return Err(fail(format!(
                        "the box reaches past the end of the box of element {}",
                        outer + 1
                    )));
                }
                open.push((i, end));
            }
        }
        Ok(())
    }
}

fn positive(key: &str, v: f32, max: f32) -> Result<f32, String> {
    if v.is_finite() && v > 0.0 && v <= max {
        Ok(v)
    } else {
        Err(format!(
            "{key} must be more than 0 and at most {max} (found {v})"
        ))
    }
}

fn non_negative(key: &str, v: f32, max: f32) -> Result<f32, String> {
    if v.is_finite() && (0.0..=max).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{key} must be between 0 and {max} (found {v})"))
    }
}

fn whole(key: &str, v: i64, min: i64, max: i64) -> Result<u32, String> {
    if (min..=max).contains(&v) {
        Ok(v as u32)
    } else if v < min {
        Err(format!("{key} must be at least {min} (found {v})"))
    } else {
        Err(format!("{key} must be at most {max} (found {v})"))
    }
}

fn point_size(key: &str, v: f32) -> Result<f32, String> {
    if v.is_finite() && (PT_RANGE.0..=PT_RANGE.1).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{key} must be between {} and {} points (found {v})",
            PT_RANGE.0, PT_RANGE.1
        ))
    }
}

/// An element's own column (first dot, width) and top row, when it leaves the flow's.
type Placement = (Option<(u32, u32)>, Option<u32>);

struct ElementCheck<'p> {
    page: &'p Page,
    kind: ElementKind,
}

impl ElementCheck<'_> {
    fn mm(&self, mm: f32) -> u32 {
        self.page.size.dots(mm)
    }

    /// The column and row of an element given `x_mm`, `y_mm`, `width_mm`.
    fn placement(
        &self,
        x_mm: Option<f32>,
        y_mm: Option<f32>,
        width_mm: Option<f32>,
    ) -> Result<Placement, String> {
        let page_width = self.page.size.width_dots;
        let m = self.page.margins;
        let column = if x_mm.is_some() || width_mm.is_some() {
            let x = match x_mm {
                Some(x) => self.mm(non_negative("x_mm", x, MAX_WIDTH_MM)?),
                None => m.left,
            };
            let width = match width_mm {
                Some(w) => self.mm(positive("width_mm", w, MAX_WIDTH_MM)?),
                None => (page_width - m.right).saturating_sub(x),
            };
            if width == 0 || x + width > page_width {
                return Err(format!(
                    "the element ({x} to {} dots across) does not fit the label's {page_width} dots",
                    x + width
                ));
            }
            Some((x, width))
        } else {
            None
        };
        let y = y_mm
            .map(|y| non_negative("y_mm", y, MAX_HEIGHT_MM))
            .transpose()?
            .map(|y| self.mm(y));
        if let (Some(y), Some(h)) = (y, self.page.height)
            && y >= h
        {
            return Err(format!(
                "y_mm puts the element at row {y}, below the label's {h} rows"
            ));
        }
        Ok((column, y))
    }

    fn pattern(&self, key: &str, text: &str) -> Result<Pattern, String> {
        Pattern::parse(text).map_err(|reason| format!("{key}: {reason}"))
    }

    fn text(&self, s: TextSpec) -> Result<Element, String> {
        let text = self.pattern("text", &s.text)?;
        let missing = label::missing_glyphs(&text.literal_text());
        if !missing.is_empty() {
            return Err(format!(
                "the font has no glyph for {}",
                missing
                    .iter()
                    .map(|c| format!("{c:?} (U+{:04X})", u32::from(*c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let pt = point_size("size_pt", s.size_pt)?;
        let shrink_to_pt = match (s.fit, s.min_size_pt) {
            (true, Some(min)) => {
                let min = point_size("min_size_pt", min)?;
                if min > pt {
                    return Err(format!(
                        "min_size_pt ({min}) must not be more than size_pt ({pt})"
                    ));
                }
                Some(min)
            }
            (true, None) => Some(PT_RANGE.0.max(6.0).min(pt)),
            (false, Some(_)) => return Err("min_size_pt is only used with fit = true".to_owned()),
            (false, None) => None,
        };
        let max_lines = s
            .max_lines
            .map(|n| whole("max_lines", i64::from(n), 1, i64::from(MAX_LINES)))
            .transpose()?;
        let wrap = s.wrap.unwrap_or(true);
        if self.page.height.is_some() && wrap && max_lines.is_none() && text.has_fields() {
            return Err(
                "on a fixed-size label, text with fields needs max_lines (or wrap = false), so that a long value cannot push the rest off the label"
                    .to_owned(),
            );
        }
        let (column, y) = self.placement(s.x_mm, s.y_mm, s.width_mm)?;
        Ok(Element {
            kind: self.kind,
            body: Body::Text {
                text,
                block: TextBlock {
                    style: TextStyle {
                        pt,
                        bold: s.bold,
                        align: s.align.map_or(Align::Left, Align::from),
                    },
                    wrap,
                    max_lines,
                    shrink_to_pt,
                },
            },
            column,
            y,
        })
    }

    fn qr(&self, s: QrSpec) -> Result<Element, String> {
        let data = self.pattern("data", &s.data)?;
        if data.is_empty() {
            return Err("data is empty".to_owned());
        }
        let (min, max) = match (s.module_dots, s.min_module_dots, s.max_module_dots) {
            (Some(m), None, None) => {
                let m = whole("module_dots", m, 1, MAX_MODULE_DOTS)?;
                (m, m)
            }
            (Some(_), _, _) => {
                return Err(
                    "module_dots (an exact size) cannot be combined with min_module_dots or max_module_dots"
                        .to_owned(),
                );
            }
            (None, min, max) => {
                let min = whole("min_module_dots", min.unwrap_or(2), 1, MAX_MODULE_DOTS)?;
                let max = whole("max_module_dots", max.unwrap_or(8), 1, MAX_MODULE_DOTS)?;
                if min > max {
                    return Err(format!(
                        "min_module_dots ({min}) must not be more than max_module_dots ({max})"
                    ));
                }
                (min, max)
            }
        };
        let level = match s.ec_level.unwrap_or(LevelSpec::M) {
            LevelSpec::L => QrLevel::L,
            LevelSpec::M => QrLevel::M,
            LevelSpec::Q => QrLevel::Q,
            LevelSpec::H => QrLevel::H,
        };
        let (column, y) = self.placement(s.x_mm, s.y_mm, s.width_mm)?;
        Ok(Element {
            kind: self.kind,
            body: Body::Qr {
                data,
                style: QrStyle {
                    level,
                    min_module: min,
                    max_module: max,
                    align: s.align.map_or(Align::Center, Align::from),
                },
            },
            column,
            y,
        })
    }

    fn code128(&self, s: Code128Spec) -> Result<Element, String> {
        let data = self.pattern("data", &s.data)?;
        if data.is_empty() {
            return Err("data is empty".to_owned());
        }
        if let Some(c) = data
            .literal_text()
            .chars()
            .find(|c| !(' '..='\u{7e}').contains(c))
        {
            return Err(format!(
                "{c:?} cannot be written in Code128 (code set B: printable ASCII only)"
            ));
        }
        let height = self.mm(positive("height_mm", s.height_mm, 200.0)?).max(1);
        let max_module = whole(
            "max_module_dots",
            s.max_module_dots.unwrap_or(4),
            1,
            MAX_BAR_MODULE_DOTS,
        )?;
        let human_readable = match (s.human_readable, s.text_size_pt) {
            (true, pt) => Some(TextStyle::regular(point_size(
                "text_size_pt",
                pt.unwrap_or(8.0),
            )?)),
            (false, Some(_)) => {
                return Err("text_size_pt is only used with human_readable = true".to_owned());
            }
            (false, None) => None,
        };
        let (column, y) = self.placement(s.x_mm, s.y_mm, s.width_mm)?;
        Ok(Element {
            kind: self.kind,
            body: Body::Code128 {
                data,
                style: BarcodeStyle {
                    height,
                    max_module,
                    align: s.align.map_or(Align::Center, Align::from),
                    human_readable,
                },
            },
            column,
            y,
        })
    }

    fn line(&self, s: LineSpec) -> Result<Element, String> {
        let thickness = whole(
            "thickness_dots",
            s.thickness_dots.unwrap_or(2),
            1,
            MAX_LINE_DOTS,
        )?;
        let pad = self.mm(non_negative("pad_mm", s.pad_mm.unwrap_or(1.0), 50.0)?);
        let (column, y) = self.placement(s.x_mm, s.y_mm, s.width_mm)?;
        Ok(Element {
            kind: self.kind,
            body: Body::Line { thickness, pad },
            column,
            y,
        })
    }

    fn gap(&self, s: GapSpec) -> Result<Element, String> {
        Ok(Element {
            kind: self.kind,
            body: Body::Gap {
                height: self.mm(positive("height_mm", s.height_mm, MAX_HEIGHT_MM)?),
            },
            column: None,
            y: None,
        })
    }

    fn boxed(&self, s: BoxSpec) -> Result<Element, String> {
        let thickness = whole(
            "thickness_dots",
            s.thickness_dots.unwrap_or(2),
            1,
            MAX_LINE_DOTS,
        )?;
        let geometry = [s.x_mm, s.y_mm, s.width_mm, s.height_mm];
        let body = match (s.around, geometry) {
            (Some(n), [None, None, None, None]) => Body::BoxAround {
                count: whole("around", n, 1, 1000)? as usize,
                thickness,
                padding: self.mm(non_negative(
                    "padding_mm",
                    s.padding_mm.unwrap_or(1.0),
                    50.0,
                )?),
            },
            (Some(_), _) => {
                return Err(
                    "a box is either around = N elements or at x_mm, y_mm, width_mm, height_mm, not both"
                        .to_owned(),
                );
            }
            (None, [Some(x), Some(y), Some(w), Some(h)]) => {
                if s.padding_mm.is_some() {
                    return Err("padding_mm is only used with around = N".to_owned());
                }
                let x = self.mm(non_negative("x_mm", x, MAX_WIDTH_MM)?);
                let y = self.mm(non_negative("y_mm", y, MAX_HEIGHT_MM)?);
                let width = self.mm(positive("width_mm", w, MAX_WIDTH_MM)?);
                let height = self.mm(positive("height_mm", h, MAX_HEIGHT_MM)?);
                if x + width > self.page.size.width_dots {
                    return Err(format!(
                        "the box ({x} to {} dots across) does not fit the label's {} dots",
                        x + width,
                        self.page.size.width_dots
                    ));
                }
                if let Some(page_height) = self.page.height
                    && y + height > page_height
                {
                    return Err(format!(
                        "the box (rows {y} to {}) does not fit the label's {page_height} rows",
                        y + height
                    ));
                }
                Body::BoxAt {
                    x,
                    y,
                    width,
                    height,
                    thickness,
                }
            }
            (None, _) => {
                return Err(
                    "a box needs either around = N (the next N elements) or all of x_mm, y_mm, width_mm, height_mm"
                        .to_owned(),
                );
            }
        };
        Ok(Element {
            kind: self.kind,
            body,
            column: None,
            y: None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Sets of templates

/// The templates a station can print with: the built-in ones, added to or replaced by name by
/// those in a template folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    by_name: BTreeMap<String, Template>,
}

impl Templates {
    /// The built-in templates alone.
    pub fn builtin() -> Result<Templates, TemplateError> {
        let mut by_name = BTreeMap::new();
        for name in builtin_names() {
            by_name.insert(name.to_owned(), Template::builtin(name)?);
        }
        Ok(Templates { by_name })
    }

    /// The built-in templates and every `*.toml` file in `dir`, a file replacing the built-in
    /// template of the same name. One broken file refuses the whole folder: a station must not
    /// start with a template that fails only when a resident is waiting for a receipt.
    pub fn with_dir(dir: &Path) -> Result<Templates, TemplateError> {
        let mut templates = Templates::builtin()?;
        let entries = std::fs::read_dir(dir).map_err(|e| {
            TemplateError::file(
                &dir.display().to_string(),
                format!("cannot read the template folder: {e}"),
            )
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let template = Template::load(&path)?;
            templates.by_name.insert(template.name.clone(), template);
        }
        Ok(templates)
    }

    /// The template called `name`.
    pub fn get(&self, name: &str) -> Option<&Template> {
        self.by_name.get(name)
    }

    /// Every template, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.by_name.values()
    }

    /// The template `spec` names: a path when it ends in `.toml` or contains a `/`, else a
    /// name looked up among these templates.
    pub fn find(&self, spec: &str) -> Result<Template, TemplateError> {
        if spec.ends_with(".toml") || spec.contains('/') {
            return Template::load(Path::new(spec));
        }
        self.get(spec).cloned().ok_or_else(|| {
            TemplateError::file(
                spec,
                format!(
                    "no template of this name; known: {}",
                    self.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn patterns_parse_fields_and_escaped_braces() {
        let p = Pattern::parse("Nr {intake_id} {{dosłownie}} z {station_name}").unwrap();
        assert_eq!(
            p.0,
            vec![
                Piece::Literal("Nr ".into()),
                Piece::Field(Field::IntakeId),
                Piece::Literal(" {dosłownie} z ".into()),
                Piece::Field(Field::StationName),
            ]
        );
        assert!(
            Pattern::parse("{nope}")
                .unwrap_err()
                .contains("unknown field {nope}")
        );
        assert!(
            Pattern::parse("{intake_id")
                .unwrap_err()
                .contains("no closing")
        );
        assert!(
            Pattern::parse("a } b")
                .unwrap_err()
                .contains("without an opening")
        );
        assert_eq!(Pattern::parse("").unwrap(), Pattern(vec![]));
    }

    #[test]
    fn text_values_lose_control_characters_and_undrawable_ones() {
        let p = Pattern::parse("[{category}]").unwrap();
        let v = |_: Field| Some("a\nb\u{e000}ż");
        assert_eq!(p.fill(&v, Fill::Text).unwrap(), "[a b?ż]");
        assert_eq!(p.fill(&v, Fill::Exact).unwrap(), "[a\nb\u{e000}ż]");
        let none = |_: Field| None;
        assert_eq!(
            p.fill(&none, Fill::Text),
            Err(RenderProblem::MissingField(Field::Category))
        );
    }

    #[test]
    fn field_names_are_unique_and_parse_back() {
        let names: BTreeSet<_> = Field::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Field::ALL.len());
        for f in Field::ALL {
            assert_eq!(f.name().parse::<Field>().unwrap(), *f);
            assert!(!f.description().is_empty());
        }
        let mut fields = Fields::new();
        assert_eq!(
            fields
                .set_assignment("status_url=https://x.pl/?a=b")
                .unwrap(),
            Field::StatusUrl
        );
        assert_eq!(fields.get(Field::StatusUrl), Some("https://x.pl/?a=b"));
        assert!(matches!(
            fields.set_assignment("colour=red"),
            Err(FieldError::Unknown(k)) if k == "colour"
        ));
        assert!(matches!(
            fields.set_assignment("intake_id"),
            Err(FieldError::NotAssignment(_))
        ));
    }

    #[test]
    fn errors_display_on_one_line_naming_file_and_element() {
        let e = TemplateError {
            file: "label-templates/receipt-58mm.toml".into(),
            element: Some((3, "qr".into())),
            reason: "module_dots must be at least 1 (found 0)".into(),
        };
        assert_eq!(
            e.to_string(),
            "label-templates/receipt-58mm.toml: element 3 (qr): module_dots must be at least 1 (found 0)"
        );
        let r = RenderError {
            template: "receipt-58mm".into(),
            element: Some((5, ElementKind::Qr)),
            problem: RenderProblem::MissingField(Field::ReceiptPayload),
        };
        assert_eq!(
            r.to_string(),
            "receipt-58mm: element 5 (qr): no value given for field {receipt_payload}"
        );
    }

    #[test]
    fn every_builtin_loads() {
        for name in builtin_names() {
            let t = Template::builtin(name).unwrap();
            assert_eq!(t.name(), name);
        }
        assert!(Template::builtin("nope").is_err());
    }
}
