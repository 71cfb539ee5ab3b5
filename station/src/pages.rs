//! The station's HTML: server-rendered shells whose content a few lines of JavaScript fill from
//! the live view (server-sent events). Polish first, English beside it. No build step.

use crate::config::StationConfig;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

/// Shared look: large targets, high contrast.
pub const STYLE: &str = r#"
body { font-family: "DejaVu Sans", system-ui, sans-serif; margin: 0; background: #f4f4f0; color: #111; }
header { background: #1d3557; color: #fff; padding: 12px 24px; display: flex; justify-content: space-between; }
main { padding: 24px; max-width: 1100px; margin: auto; }
.en { color: #555; font-size: 0.8em; display: block; }
header .en { color: #cdd; }
.big { font-size: 2.2em; font-weight: bold; margin: 0.4em 0; }
.id { font-family: "DejaVu Sans Mono", monospace; font-size: 2.4em; letter-spacing: 0.05em; }
button { font-size: 1.4em; padding: 18px 28px; margin: 8px; border-radius: 10px; border: 2px solid #1d3557;
         background: #fff; cursor: pointer; min-width: 220px; }
button.primary { background: #1d3557; color: #fff; }
button.primary .en { color: #dde; }
.categories { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 8px; }
.alert { background: #fde2e1; border: 2px solid #b3261e; padding: 16px; border-radius: 8px; margin: 12px 0; }
.ok { background: #e3f4e1; border: 2px solid #2e7d32; padding: 16px; border-radius: 8px; margin: 12px 0; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #ccc; padding: 6px; text-align: left; }
.labels img { border: 1px solid #999; margin: 6px; width: 384px; image-rendering: pixelated; background: #fff; }
input[type=text] { font-size: 1.4em; padding: 10px; width: 60%; }
#signed-in { display: flex; align-items: center; gap: 12px; padding: 8px 16px; }
#signed-in button { min-width: 0; padding: 8px 16px; font-size: 1em; margin: 0 0 0 auto; }
#bag-panel h2 { margin: 0 0 6px; }
.result { display: flex; gap: 20px; align-items: center; font-size: 1.3em; border-width: 6px; }
.result .sign { font-size: 3em; margin: 0; line-height: 1; }
.result.ok .sign { color: #1b5e20; } .result.alert .sign { color: #8b0000; }
.flash { animation: flash 0.5s ease-out 2; }
@keyframes flash { 50% { box-shadow: 0 0 0 12px rgba(0, 0, 0, 0.25); } }
.countdown { font-family: "DejaVu Sans Mono", monospace; font-size: 1.2em; }
details#intake, details#forward-panel { border: 2px solid #1d3557; border-radius: 8px; padding: 8px 16px; margin: 12px 0; background: #fff; }
details#intake summary, details#forward-panel summary { font-size: 1.3em; font-weight: bold; cursor: pointer; padding: 8px 0; }
form.intake { display: grid; grid-template-columns: 1fr 1fr; gap: 12px 24px; align-items: end; }
form.intake label { display: block; font-weight: bold; }
form.intake input[type=text], form.intake select, form.intake input[type=date] { display: block; width: 100%; font-size: 1.2em; padding: 8px; box-sizing: border-box; }
form.intake fieldset { grid-column: 1 / -1; font-size: 1.2em; }
"#;

/// Escaping and posting, for every page's script.
const COMMON_SCRIPT: &str = r#"
function esc(s) { return String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'})[c]); }
async function post(path, body) {
  const init = { method: 'POST' };
  if (body !== undefined) { init.headers = { 'content-type': 'application/json' }; init.body = JSON.stringify(body); }
  return fetch(path, init);
}
"#;

fn shell(
    title_pl: &str,
    title_en: &str,
    config: &StationConfig,
    body: &str,
    script: &str,
) -> String {
    format!(
        r#"<!doctype html>
<html lang="pl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title_pl} / {title_en} — urna</title><link rel="stylesheet" href="/style.css"></head>
<body><header><div><strong>{title_pl}</strong><span class="en">{title_en}</span></div>
<div>{name}<span class="en">{station} · {place}</span></div></header>
<main>{body}</main>
<script>
{common}
{script}
</script></body></html>"#,
        common = COMMON_SCRIPT,
        name = escape(&config.name),
        station = escape(config.station.as_str()),
        place = escape(&config.place),
    )
}

/// The urn kiosk's look: a 7-inch 800×480 touchscreen read by people of every age, in every
/// light. Large type, targets of at least 64 px, contrast above WCAG's AAA ratio of 7:1.
const KIOSK_STYLE: &str = r#"
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body.kiosk { font-family: "DejaVu Sans", system-ui, sans-serif; font-size: 22px; line-height: 1.3;
  background: #fff; color: #000; display: flex; flex-direction: column; overflow: hidden; }
.bar { display: flex; align-items: center; justify-content: space-between; gap: 8px;
  background: #0b2545; color: #fff; padding: 6px 12px; min-height: 64px; }
.bar h1 { font-size: 24px; margin: 0; }
.langs { display: flex; gap: 6px; }
.langs button { font: inherit; font-size: 20px; min-height: 52px; min-width: 112px; padding: 4px 10px;
  border: 3px solid #fff; border-radius: 10px; background: #0b2545; color: #fff; cursor: pointer; }
.langs button[aria-pressed="true"] { background: #fff; color: #0b2545; font-weight: bold; }
main.screen { flex: 1; padding: 10px 18px; display: flex; flex-direction: column; gap: 8px; overflow: hidden; }
.msg { font-size: 28px; font-weight: bold; margin: 0; }
.beside { font-size: 20px; color: #222; margin: 0; }
.alert { background: #fff0f0; color: #000; border: 4px solid #8b0000; border-radius: 10px; padding: 8px 12px; font-size: 22px; }
.stop .msg { color: #8b0000; }
.actions { display: flex; flex-wrap: wrap; gap: 10px; margin-top: auto; }
.actions button, .choices button { font: inherit; font-size: 24px; min-height: 72px; padding: 8px 18px;
  border-radius: 12px; border: 4px solid #0b2545; background: #fff; color: #000; cursor: pointer; }
.actions button.go { background: #0b2545; color: #fff; min-width: 320px; font-weight: bold; }
.choices { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
.choices button { min-height: 60px; font-size: 21px; text-align: left; padding: 6px 14px; }
.choices button.cancel { background: #e6e6e6; text-align: center; }
button:focus-visible { outline: 5px solid #ffbf00; outline-offset: 2px; }
.hint { font-size: 20px; margin: 0; }
.id { font-family: "DejaVu Sans Mono", monospace; font-size: 44px; font-weight: bold; letter-spacing: 0.06em; margin: 0; }
.facts { font-size: 22px; margin: 0; }
.slot { font-size: 26px; font-weight: bold; }
.service { display: grid; grid-template-columns: 1fr 300px; gap: 14px; align-items: start; }
.keypad { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px; }
.keypad button { font: inherit; font-size: 26px; min-height: 58px; border-radius: 10px; border: 3px solid #0b2545;
  background: #fff; color: #000; cursor: pointer; }
.keypad button.ok { background: #0b2545; color: #fff; font-weight: bold; }
.entry { font-family: "DejaVu Sans Mono", monospace; font-size: 30px; border: 3px solid #000; border-radius: 8px;
  padding: 4px 10px; min-height: 52px; letter-spacing: 0.15em; margin: 0; }
.who { font-size: 20px; margin: 0; }
"#;

/// The urn kiosk's screen: Polish first, English and Ukrainian one touch away; every step also
/// reachable with the physical button alone, which the station handles without the page.
pub fn kiosk(config: &StationConfig) -> String {
    let script = r#"
const T = {
  pl: { title: 'Urna — złóż pismo', no_code: 'Nie mam kodu', cancel: 'Anuluj',
        or_button: 'Możesz też po prostu nacisnąć przycisk pod ekranem.',
        intake: 'Numer przesyłki', date: 'Data złożenia', reference: 'Sygnatura z formularza',
        slot: '↓ Otwór na koperty jest pod ekranem',
        scanner: 'Czytnik kodów nie działa. Naciśnij przycisk pod ekranem.',
        service: 'Obsługa — odbiór z urny', first: 'Osoba 1', second: 'Osoba 2', seal: 'Plomba',
        erase: 'Usuń', pin_entry: 'Wpisany PIN', seal_entry: 'Wpisany numer plomby' },
  en: { title: 'Drop box — hand in a letter', no_code: 'I have no code', cancel: 'Cancel',
        or_button: 'You can also just press the button below the screen.',
        intake: 'Intake number', date: 'Date of receipt', reference: 'Reference from your form',
        slot: '↓ The envelope slot is below the screen',
        scanner: 'The code reader is not working. Press the button below the screen.',
        service: 'Service — collection from the urn', first: 'Person 1', second: 'Person 2', seal: 'Seal',
        erase: 'Delete', pin_entry: 'PIN typed', seal_entry: 'Seal number typed' },
  uk: { title: 'Урна — подати лист', no_code: 'У мене немає коду', cancel: 'Скасувати',
        or_button: 'Можна також просто натиснути кнопку під екраном.',
        intake: 'Номер відправлення', date: 'Дата подання', reference: 'Номер справи з формуляра',
        slot: '↓ Отвір для конвертів під екраном',
        scanner: 'Сканер кодів не працює. Натисніть кнопку під екраном.',
        service: 'Обслуговування — вилучення з урни', first: 'Особа 1', second: 'Особа 2', seal: 'Пломба',
        erase: 'Видалити', pin_entry: 'Введений PIN', seal_entry: 'Введений номер пломби' },
};
let lang = 'pl';
let view = null;
let lastStep = null;
let lastTouch = Date.now();

function message(v, l) { return v['message_' + l]; }
function categoryName(c, l) { return c['name_' + l]; }
// The other language shown small beside the chosen one: English beside Polish, Polish beside
// the others, so that staff helping a resident can always read the screen.
function besideLang() { return lang === 'pl' ? 'en' : 'pl'; }

function setLang(l) {
  lang = l;
  lastTouch = Date.now();
  if (view) render(view);
}

function render(v) {
  view = v;
  // A finished deposit means the next person: back to Polish.
  if (v.step === 'idle' && lastStep && lastStep !== 'idle' && lastStep !== 'out_of_order') lang = 'pl';
  lastStep = v.step;
  const t = T[lang], b = besideLang();
  document.documentElement.lang = lang;
  document.title = t.title + ' — urna';
  document.getElementById('title').textContent = t.title;
  for (const button of document.querySelectorAll('.langs button')) {
    button.setAttribute('aria-pressed', String(button.dataset.lang === lang));
  }
  document.getElementById('msg').textContent = message(v, lang);
  const beside = document.getElementById('beside');
  beside.textContent = message(v, b);
  beside.lang = b;
  const scanner = document.getElementById('scanner');
  scanner.hidden = v.scanner_connected || v.step === 'out_of_order';
  scanner.textContent = t.scanner;
  document.getElementById('screen').className = 'screen' + (v.step === 'out_of_order' ? ' stop' : '');

  let facts = '';
  if (v.intake && (v.step === 'drop' || v.step === 'done')) {
    facts += '<p class="facts">' + esc(t.intake) + '</p><p class="id" data-intake="' + esc(v.intake) + '">' + esc(v.intake) + '</p>';
    if (v.deposited_at) facts += '<p class="facts">' + esc(t.date) + ': <strong>' + esc(v.deposited_at) + '</strong></p>';
  }
  if (v.reference && v.step !== 'idle') facts += '<p class="facts">' + esc(t.reference) + ': <strong>' + esc(v.reference) + '</strong></p>';
  if (v.step === 'drop') facts += '<p class="slot">' + esc(t.slot) + '</p>';
  document.getElementById('facts').innerHTML = facts;

  let actions = '';
  if (v.step === 'idle') {
    actions = '<div class="actions"><button class="go" id="no-code" onclick="touch(); post(\'/kiosk/start\')">' + esc(t.no_code) + '</button></div>' +
      '<p class="hint">' + esc(t.or_button) + '</p>';
  } else if (v.step === 'choose') {
    // Cancel sits in the grid's last cell, so five categories and it fill three rows.
    actions = '<div class="choices">' + v.categories.map(c =>
      '<button data-category="' + esc(c.id) + '" onclick="touch(); post(\'/kiosk/category/' + encodeURIComponent(c.id) + '\')">' + esc(categoryName(c, lang)) + '</button>').join('') +
      '<button id="cancel" class="cancel" onclick="touch(); post(\'/kiosk/cancel\')">' + esc(t.cancel) + '</button></div>';
  }
  if (v.step === 'service') actions = serviceScreen(v.service, t);
  else entry = '';
  document.getElementById('actions').innerHTML = actions;
  document.body.dataset.step = v.step;
  document.body.dataset.service = v.service ? v.service.stage : '';
  document.body.dataset.lang = lang;
}

// What the keypad has collected for the current collection step; cleared when the step changes.
let entry = '';
let entryStage = null;
function serviceScreen(sv, t) {
  if (sv.stage !== entryStage) { entry = ''; entryStage = sv.stage; }
  const keyed = sv.stage === 'first_pin' || sv.stage === 'second_pin' || sv.stage === 'seal';
  let left = '<p class="who">' + esc(t.service) + '</p>';
  if (sv.first) left += '<p class="who">' + esc(t.first) + ': <strong>' + esc(sv.first) + '</strong></p>';
  if (sv.second) left += '<p class="who">' + esc(t.second) + ': <strong>' + esc(sv.second) + '</strong></p>';
  if (sv.seal) left += '<p class="who">' + esc(t.seal) + ': <strong>' + esc(sv.seal) + '</strong></p>';
  if (keyed) {
    const shown = sv.stage === 'seal' ? esc(entry) : '•'.repeat(entry.length);
    left += '<p class="entry" id="entry" role="status" aria-label="' + esc(sv.stage === 'seal' ? t.seal_entry : t.pin_entry) + '">' + shown + '</p>';
  }
  if (sv.stage !== 'door_open') left += '<div class="actions"><button id="cancel" onclick="touch(); post(\'/kiosk/cancel\')">' + esc(t.cancel) + '</button></div>';
  let right = '';
  if (keyed) {
    const keys = ['1','2','3','4','5','6','7','8','9'].map(d => '<button data-key="' + d + '" onclick="key(\'' + d + '\')">' + d + '</button>').join('');
    right = '<div class="keypad">' + keys +
      '<button data-key="erase" aria-label="' + esc(t.erase) + '" onclick="key(\'erase\')">⌫</button>' +
      '<button data-key="0" onclick="key(\'0\')">0</button>' +
      '<button class="ok" data-key="ok" onclick="key(\'ok\')">OK</button></div>';
  }
  return '<div class="service">' + '<div>' + left + '</div>' + '<div>' + right + '</div></div>';
}
function key(k) {
  touch();
  const stage = view && view.service ? view.service.stage : null;
  if (!stage) return;
  if (k === 'erase') entry = entry.slice(0, -1);
  else if (k === 'ok') {
    const typed = entry;
    entry = '';
    if (stage === 'seal') post('/kiosk/service/seal', { seal: typed });
    else post('/kiosk/service/pin', { pin: typed });
  } else if (entry.length < 32) entry += k;
  render(view);
}

function touch() { lastTouch = Date.now(); }
document.addEventListener('pointerdown', touch);
document.addEventListener('keydown', touch);
// Nobody touching the screen for the idle timeout: the next person starts in Polish. (The
// station itself takes a half-finished choice back to the start after the same time.)
setInterval(() => {
  if (!view || lang === 'pl') return;
  if (Date.now() - lastTouch >= view.idle_timeout_secs * 1000) { lang = 'pl'; render(view); }
}, 1000);

// The stream starts with the state as it is now; the fetch only fills the screen sooner. Its
// answer can arrive after a newer streamed one, and drawing it then would take the resident
// back to a screen already left (the welcome screen over a receipt being printed).
let streamed = false;
fetch('/kiosk/state').then(r => r.json()).then(v => { if (!streamed) render(v); });
new EventSource('/kiosk/stream').onmessage = e => { streamed = true; render(JSON.parse(e.data)); };
"#;
    format!(
        r#"<!doctype html>
<html lang="pl"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Urna — złóż pismo — urna</title><style>{KIOSK_STYLE}</style></head>
<body class="kiosk" data-step="" data-lang="pl">
<header class="bar"><h1 id="title">Urna — złóż pismo</h1>
<nav class="langs" aria-label="Język / Language / Мова">
<button type="button" data-lang="pl" lang="pl" aria-pressed="true" onclick="setLang('pl')">Polski</button>
<button type="button" data-lang="en" lang="en" aria-pressed="false" onclick="setLang('en')">English</button>
<button type="button" data-lang="uk" lang="uk" aria-pressed="false" onclick="setLang('uk')">Українська</button>
</nav></header>
<main class="screen" id="screen" data-station="{station}">
<p class="alert" id="scanner" role="alert" hidden></p>
<div role="status" aria-live="polite"><p class="msg" id="msg"></p><p class="beside" id="beside" lang="en"></p></div>
<div id="facts"></div>
<div id="actions"></div>
</main>
<script>
{common}
{script}
</script></body></html>"#,
        station = escape(config.station.as_str()),
        common = COMMON_SCRIPT,
    )
}

/// The mailroom staff screen.
pub fn mailroom(config: &StationConfig) -> String {
    let categories = config
        .categories
        .iter()
        .map(|c| {
            format!(
                r#"<option value="{}">{} / {}</option>"#,
                escape(&c.id),
                escape(&c.name_pl),
                escape(&c.name_en)
            )
        })
        .collect::<String>();
    let materials = config
        .materials
        .iter()
        .map(|m| {
            format!(
                r#"<option value="{}">{} / {}</option>"#,
                escape(&m.id),
                escape(&m.name_pl),
                escape(&m.name_en)
            )
        })
        .collect::<String>();
    let intake = format!(
        r#"<details id="intake"><summary>Przyjmij pismo z poczty lub z biura podawczego<span class="en">Take in a letter that came by post or at the counter</span></summary>
<form id="intake-form" class="intake">
<fieldset><legend>Jak wpłynęło <span class="en">How it came</span></legend>
<label><input type="radio" name="channel" value="post" checked> poczta <span class="en">post</span></label>
<label><input type="radio" name="channel" value="counter"> biuro podawcze <span class="en">counter</span></label></fieldset>
<label>Czego dotyczy <span class="en">About</span><select name="category" id="intake-category">{categories}</select></label>
<label>Rodzaj <span class="en">Kind</span><select name="material" id="intake-material"><option value="paper">List / Letter</option>{materials}</select></label>
<label>Nadawca (puste = brak danych) <span class="en">Sender (blank = no data)</span><input type="text" name="sender" id="intake-sender" maxlength="200" autocomplete="off"></label>
<label>Sygnatura <span class="en">Reference</span><input type="text" name="reference" id="intake-reference" maxlength="64" autocomplete="off"></label>
<label>Załączniki <span class="en">Attachments</span><input type="text" name="attachments" id="intake-attachments" inputmode="numeric" maxlength="3" autocomplete="off"></label>
<label>Data wpływu, poczta (puste = dziś) <span class="en">Date received, post (blank = today)</span><input type="date" name="received" id="intake-received"></label>
<button class="primary" type="submit" id="intake-submit">Przyjmij i drukuj etykietę<span class="en">Take in and print the label</span></button>
</form></details>"#
    );
    let body = format!(
        r#"
<div id="who"></div>
<form id="scan-form"><label>Zeskanuj kartę albo etykietę koperty <span class="en">Scan your badge or the envelope's label</span><br>
<input type="text" name="code" id="code" autofocus autocomplete="off"></label>
<button class="primary" type="submit">OK</button></form>
<form id="pin-form" hidden><label>PIN <span class="en">PIN</span><br>
<input type="password" name="pin" id="pin" inputmode="numeric" autocomplete="off" maxlength="12"></label>
<button class="primary" type="submit">Zaloguj <span class="en">Sign in</span></button></form>
<div id="printer"></div>
<div id="bag"></div>
<div id="last" role="status" aria-live="assertive"></div>
<div id="early"></div>
<div id="forward"></div>
{intake}
<section id="devices"></section>
<section id="forwarding"></section>
<h2>W kwarantannie <span class="en">In sanitising hold</span></h2>
<button id="bin-label" onclick="post('/mailroom/bin')">Drukuj etykietę pojemnika<span class="en">Print the bin label</span></button>
<table><thead><tr><th>Numer <span class="en">Intake</span></th><th>Do <span class="en">Until</span></th><th>Zostało <span class="en">Left</span></th><th>Stan <span class="en">State</span></th></tr></thead><tbody id="held"></tbody></table>"#
    );
    let script = r#"
document.getElementById('scan-form').onsubmit = async e => {
  e.preventDefault();
  const code = document.getElementById('code');
  const body = 'code=' + encodeURIComponent(code.value);
  // Emptied now, and the focus left to render(): the answer can come after the streamed state
  // has moved the focus on (to the PIN field, after a badge), and taking it back then would put
  // the PIN into the scan field.
  code.value = '';
  await fetch('/mailroom/scan', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
};
document.getElementById('pin-form').onsubmit = async e => {
  e.preventDefault();
  const pin = document.getElementById('pin');
  const body = 'pin=' + encodeURIComponent(pin.value);
  pin.value = '';
  await fetch('/mailroom/pin', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
};
let intakeSent = false;
document.getElementById('intake-form').onsubmit = async e => {
  e.preventDefault();
  intakeSent = true;
  await fetch('/mailroom/intake', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(new FormData(e.target)).toString() });
};
// A sound for every result, so a clerk with an envelope in each hand need not look: one high
// tone for done, two low ones for "look at the screen". Kept in `urnaBeeps` for the tests.
let audio = null;
window.urnaBeeps = [];
function beep(ok) {
  window.urnaBeeps.push(ok ? 'ok' : 'error');
  try {
    audio = audio || new AudioContext();
    const tones = ok ? [[880, 0, 0.12]] : [[220, 0, 0.2], [175, 0.28, 0.3]];
    for (const [hz, start, secs] of tones) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = ok ? 'sine' : 'square'; osc.frequency.value = hz; gain.gain.value = 0.25;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(audio.currentTime + start); osc.stop(audio.currentTime + start + secs);
    }
  } catch (e) { /* no sound device: the colour still says it */ }
}
function left(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
  const hms = [h, m, sec].map(n => String(n).padStart(2, '0')).join(':');
  return d ? d + ' d ' + hms : hms;
}
function tick() {
  for (const cell of document.querySelectorAll('#held [data-ends]')) {
    const ms = Number(cell.dataset.ends) - Date.now();
    cell.textContent = ms > 0 ? left(ms) : '00:00:00';
  }
}
setInterval(tick, 1000);
let resultsSeen = null;
function render(v) {
  const s = v.staff;
  let who = '';
  if (s.step === 'signed_in') {
    who = '<div class="ok" id="signed-in">Zalogowany: <strong>' + esc(s.name) + '</strong> (' + (s.role === 'supervisor' ? 'kierownik' : 'pracownik') +
      ')<span class="en">Signed in: ' + esc(s.name) + ' (' + esc(s.role) + ')</span> <button onclick="post(\'/mailroom/signout\')">Wyloguj<span class="en">Sign out</span></button></div>';
  } else if (s.step === 'awaiting_pin') {
    who = '<p class="big">Wpisz PIN<span class="en">Type your PIN</span></p>';
  } else {
    who = '<p class="big">Zaloguj się: zeskanuj swoją kartę<span class="en">Sign in: scan your badge</span></p>';
  }
  document.getElementById('who').innerHTML = who;
  document.body.dataset.staff = s.step;
  const b = v.bag;
  let bag = '';
  if (b) {
    bag = '<section class="ok" id="bag-panel"><h2>Worek z plombą ' + esc(b.seal) + ' — ' + esc(b.station_name) + ' (' + esc(b.station) + ')' +
      '<span class="en">Bag sealed ' + esc(b.seal) + '</span></h2>' +
      '<p>Kopert według urny: <strong>' + b.urn_count + '</strong>, wpłat na liście: ' + b.expected + ', zeskanowano: <strong id="bag-scanned">' + b.scanned + '</strong>' +
      '<span class="en">The urn counted ' + b.urn_count + ' envelopes; deposits listed ' + b.expected + '; scanned ' + b.scanned + '</span></p>';
    if (b.missing.length) bag += '<div class="alert" id="bag-missing"><strong>Brak (' + b.missing.length + '):</strong> ' + b.missing.map(esc).join(', ') +
      '<span class="en">Missing; * the slot never saw it fall</span></div>';
    if (b.unexpected.length) bag += '<div class="alert" id="bag-unexpected"><strong>Spoza listy urny (' + b.unexpected.length + '):</strong> ' + b.unexpected.map(esc).join(', ') +
      '<span class="en">Not on the urn\'s list</span></div>';
    if (b.confirm === 'scanning') bag += '<button class="primary" id="bag-finish" onclick="post(\'/mailroom/bag/finish\')">Zakończ i zatwierdź<span class="en">Finish and confirm</span></button>' +
      '<button id="bag-cancel" onclick="post(\'/mailroom/bag/cancel\')">Przerwij<span class="en">Stop</span></button>';
    else if (b.confirm === 'badge') bag += '<p class="big">Druga osoba: zeskanuj kartę<span class="en">Second person: scan your badge</span></p>';
    bag += '</section>';
  }
  const early = v.early;
  let earlyHtml = '';
  if (early && early.step === 'offered') {
    earlyHtml = '<p><button id="early-start" onclick="post(\'/mailroom/early/start\')">Wydaj przed czasem (zgoda kierownika)<span class="en">Release early (supervisor\'s approval)</span></button></p>';
  } else if (early && early.step === 'reason') {
    earlyHtml = '<form id="early-form" class="alert"><label>Powód wydania ' + esc(early.intake) + ' przed końcem kwarantanny<span class="en">Why release it before the hold is over</span><br>' +
      '<input type="text" name="reason" id="early-reason" autocomplete="off" maxlength="500"></label> ' +
      '<button class="primary" type="submit">Dalej<span class="en">Next</span></button> <button type="button" onclick="post(\'/mailroom/early/cancel\')">Anuluj<span class="en">Cancel</span></button></form>';
  } else if (early && early.step === 'badge') {
    earlyHtml = '<p class="big">Kierownik: zeskanuj kartę<span class="en">Supervisor: scan your badge</span></p>';
  }
  const hadReason = document.getElementById('early-reason');
  const keptReason = hadReason ? hadReason.value : '';
  document.getElementById('early').innerHTML = earlyHtml;
  const reasonField = document.getElementById('early-reason');
  if (reasonField) {
    reasonField.value = keptReason;
    reasonField.focus();
    document.getElementById('early-form').onsubmit = async e => {
      e.preventDefault();
      await fetch('/mailroom/early/reason', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'reason=' + encodeURIComponent(reasonField.value) });
    };
  }
  document.body.dataset.early = early ? early.step : '';
  document.getElementById('bag').innerHTML = bag;
  document.body.dataset.bag = b ? b.confirm : '';
  const pinForm = document.getElementById('pin-form');
  const wasHidden = pinForm.hidden;
  pinForm.hidden = !(s.step === 'awaiting_pin' || (b && b.confirm === 'pin') || (early && early.step === 'pin'));
  // The field under the staff member's fingers: the PIN while one is asked for, else the scan.
  if (!pinForm.hidden && wasHidden) document.getElementById('pin').focus();
  const f = v.forward;
  const forward = document.getElementById('forward');
  // Rebuilt only when the envelope changes, so what is typed survives the live updates.
  if ((forward.dataset.intake || '') !== (f ? f.intake : '')) {
    forward.dataset.intake = f ? f.intake : '';
    forward.innerHTML = f ? '<details id="forward-panel"><summary>Przekaż ' + esc(f.intake) + ' do innego wydziału niż: ' + esc(f.department || '—') +
      '<span class="en">Forward it to another department</span></summary><form id="forward-form" class="intake">' +
      '<label>Wydział <span class="en">Department</span><select name="department" id="forward-department">' +
      f.departments.map(d => '<option>' + esc(d) + '</option>').join('') + '</select></label>' +
      '<label>Powód zmiany <span class="en">Why</span><input type="text" name="reason" id="forward-reason" maxlength="500" autocomplete="off"></label>' +
      '<button class="primary" type="submit" id="forward-submit">Przekaż<span class="en">Forward</span></button>' +
      '<button type="button" onclick="post(\'/mailroom/early/cancel\')">Anuluj<span class="en">Cancel</span></button></form></details>' : '';
    const form = document.getElementById('forward-form');
    if (form) form.onsubmit = async e => {
      e.preventDefault();
      await fetch('/mailroom/forward', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(new FormData(form)).toString() });
    };
  }
  const intakePanel = document.getElementById('intake');
  if (pinForm.hidden && !reasonField && !intakePanel.contains(document.activeElement) && !forward.contains(document.activeElement) && document.activeElement !== document.getElementById('code')) document.getElementById('code').focus();
  const last = v.last;
  const fresh = resultsSeen !== null && v.results !== resultsSeen;
  resultsSeen = v.results;
  document.getElementById('last').innerHTML = last ? '<div class="result ' + (last.ok ? 'ok' : 'alert') + (fresh ? ' flash' : '') + '" id="result" data-ok="' + last.ok + '"><p class="sign" aria-hidden="true">' + (last.ok ? '✔' : '✖') + '</p><div><p class="big">' + esc(last.intake || '') + '</p><p>' + esc(last.message_pl) + '<span class="en">' + esc(last.message_en) + '</span></p></div></div>' : '';
  if (fresh && last) {
    beep(last.ok);
    if (intakeSent && last.ok && last.intake) {
      intakeSent = false;
      document.getElementById('intake-form').reset();
      intakePanel.open = false;
      document.getElementById('code').focus();
    }
  }
  const slash = (v.printer || '').indexOf(' / ');
  document.getElementById('printer').innerHTML = v.printer ? '<div class="alert" id="printer-alert"><strong>Drukarka etykiet:</strong> ' +
    esc(slash < 0 ? v.printer : v.printer.slice(0, slash)) + '<span class="en">Label printer: ' + esc(slash < 0 ? '' : v.printer.slice(slash + 3)) + '</span></div>' : '';
  const d = v.devices;
  let devices = '';
  if (d.alerts.length) devices = '<div class="alert" id="device-alerts"><h2>Urządzenia wymagają uwagi <span class="en">Devices need attention</span></h2><ul>' +
    d.alerts.map(a => '<li data-station="' + esc(a.station) + '" data-kind="' + esc(a.kind) + '"><strong>' + esc(a.station_name) + ' (' + esc(a.station) + ')</strong>: ' +
      esc(a.text_pl) + '<span class="en">' + esc(a.text_en) + ' · ' + esc(a.since) + '</span></li>').join('') + '</ul></div>';
  if (!d.reachable) devices += '<p>Brak połączenia z kancelarią główną: stan urządzeń może być nieaktualny.<span class="en">No connection to the registry: the devices\' state may be out of date.</span></p>';
  document.getElementById('devices').innerHTML = devices;
  document.getElementById('forwarding').innerHTML = v.forwarding.length ?
    '<h2>Przekazane dziś <span class="en">Forwarded today</span></h2><ul>' + v.forwarding.map(l =>
      '<li>' + esc(l.department) + ': <strong>' + l.entries.length + '</strong> ' +
      '<a href="/mailroom/forwarding?department=' + encodeURIComponent(l.department) + '" target="_blank">lista do druku<span class="en">printable list</span></a></li>').join('') + '</ul>' : '';
  const now = Date.now();
  document.getElementById('held').innerHTML = v.held.map(h => '<tr data-intake="' + esc(h.intake) + '"><td>' + esc(h.intake) + '</td><td>' + esc(h.until) + '</td>' +
    (h.remaining_secs === undefined ? '<td></td>' : '<td class="countdown" data-ends="' + (now + h.remaining_secs * 1000) + '">' + left(h.remaining_secs * 1000) + '</td>') + '<td>' +
    (h.releasable ? 'do wydania <span class="en">ready to release</span>' : 'trwa <span class="en">holding</span>') + '</td></tr>').join('');
}
// The stream starts with the state as it is now; the fetch only fills the screen sooner. Its
// answer can arrive after a newer streamed one, and drawing it then would show a step already
// left (a PIN field hidden again, so the PIN is typed into the scan field).
let streamed = false;
fetch('/mailroom/state').then(r => r.json()).then(v => { if (!streamed) render(v); });
new EventSource('/mailroom/stream').onmessage = e => { streamed = true; render(JSON.parse(e.data)); };
"#;
    shell(
        "Kancelaria — stanowisko",
        "Mailroom counter",
        config,
        &body,
        script,
    )
}

/// The simulation control page: buttons for every simulated device, and the printed labels.
pub fn sim(config: &StationConfig) -> String {
    let body = r#"
<p>Symulacja urządzeń tego stanowiska. <span class="en">Simulated devices of this station.</span></p>
<p><input type="text" id="code" placeholder="kod z formularza / form code, e.g. GKM.6220.12.2020">
<button onclick="post('/sim/scan', { code: document.getElementById('code').value })">Skanuj<span class="en">Scan</span></button></p>
<p><button onclick="post('/sim/button')">Przycisk<span class="en">Button</span></button>
<button onclick="post('/sim/slot')">Koperta w otworze<span class="en">Envelope through the slot</span></button>
<button onclick="post('/sim/door', { open: true })">Otwórz drzwi<span class="en">Open the door</span></button>
<button onclick="post('/sim/door', { open: false })">Zamknij drzwi<span class="en">Close the door</span></button></p>
<p>Drukarka <span class="en">Printer</span>
<button onclick="post('/sim/printer', { fault: 'none' })">OK</button>
<button onclick="post('/sim/printer', { fault: 'paper_out' })">Brak papieru<span class="en">Paper out</span></button>
<button onclick="post('/sim/printer', { fault: 'cover_open' })">Otwarta pokrywa<span class="en">Cover open</span></button>
<button onclick="post('/sim/printer', { fault: 'offline' })">Wyłączona<span class="en">Offline</span></button></p>
<p>Czytnik <span class="en">Scanner</span>
<button onclick="post('/sim/scanner', { connected: false })">Odłącz<span class="en">Unplug</span></button>
<button onclick="post('/sim/scanner', { connected: true })">Podłącz<span class="en">Plug in</span></button></p>
<p id="outputs"></p>
<h2>Wydrukowane <span class="en">Printed</span></h2><div class="labels" id="labels"></div>"#;
    let body = format!(
        r#"<div id="sim" data-status-url="{}">{body}</div>"#,
        escape(&config.status_url)
    );
    let script = r#"
async function refresh() {
  const outputs = await (await fetch('/sim/devices')).json();
  document.getElementById('outputs').innerHTML = 'Lampka nad otworem: <strong>' + (outputs.lamp ? 'świeci' : 'zgaszona') +
    '</strong><span class="en">Lamp over the slot: ' + (outputs.lamp ? 'on' : 'off') + ' · printer: ' + esc(outputs.printer) + '</span>';
  const kiosk = await fetch('/kiosk/state');
  if (kiosk.ok) {
    const urn = (await kiosk.json()).urn;
    document.getElementById('outputs').innerHTML += '<br>Koperty w urnie: <strong>' + urn.envelopes + ' / ' + urn.capacity +
      '</strong><span class="en">In the urn: ' + urn.envelopes + ' of ' + urn.capacity + ' envelopes (' + esc(urn.level) + ')</span>';
  }
  const labels = await (await fetch('/sim/labels')).json();
  document.getElementById('labels').innerHTML = labels.map(l =>
    '<figure style="display:inline-block"><img src="' + esc(l.png) + '" alt="' + esc(l.label + ' ' + l.intake) + '"><figcaption>' + esc(l.intake) + ' · ' + esc(l.label) + '</figcaption></figure>').join('');
}
refresh(); setInterval(refresh, 1000);
"#;
    shell(
        "Symulacja urządzeń",
        "Device simulation",
        config,
        &body,
        script,
    )
}

/// Today's forwarding lists, one page per department when printed: for the messenger's round,
/// with lines for the messenger and the department to sign.
pub fn forwarding(
    config: &StationConfig,
    lists: &[crate::forwarding::ForwardingList],
    date: &str,
) -> String {
    let mut body = String::from(
        r#"<style>
@media print { header, .no-print { display: none; } .list { page-break-after: always; } body { background: #fff; } }
.list { margin-bottom: 2em; } .signatures { display: flex; gap: 4em; margin-top: 3em; }
.signatures p { border-top: 1px solid #000; padding-top: 4px; min-width: 16em; }
</style>
<p class="no-print"><button class="primary" onclick="window.print()">Drukuj<span class="en">Print</span></button></p>"#,
    );
    if lists.is_empty() {
        body.push_str(
            "<p>Dziś nic nie przekazano.<span class=\"en\">Nothing was forwarded today.</span></p>",
        );
    }
    for list in lists {
        body.push_str(&format!(
            r#"<section class="list" data-department="{department}"><h2>{department}</h2>
<p>Lista przekazania z dnia {date} — {station}<span class="en">Forwarding list of {date}</span></p>
<table><thead><tr><th>Lp.</th><th>Numer przesyłki <span class="en">Intake</span></th><th>Przekazano <span class="en">Forwarded</span></th></tr></thead><tbody>"#,
            department = escape(&list.department),
            date = escape(date),
            station = escape(&config.name),
        ));
        for (i, entry) in list.entries.iter().enumerate() {
            body.push_str(&format!(
                "<tr><td>{}</td><td class=\"intake\">{}</td><td>{}</td></tr>",
                i + 1,
                escape(&entry.intake),
                escape(&entry.at)
            ));
        }
        body.push_str(&format!(
            r#"</tbody></table><p>Razem: <strong>{}</strong><span class="en">Total</span></p>
<div class="signatures"><p>Doręczył (goniec)<span class="en">Delivered by (messenger)</span></p><p>Odebrał (wydział)<span class="en">Received by (department)</span></p></div></section>"#,
            list.entries.len()
        ));
    }
    shell("Listy przekazania", "Forwarding lists", config, &body, "")
}
