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
function esc(s) {{ return String(s ?? '').replace(/[&<>"']/g, c => ({{'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}})[c]); }}
async function post(path, body) {{
  const init = {{ method: 'POST' }};
  if (body !== undefined) {{ init.headers = {{ 'content-type': 'application/json' }}; init.body = JSON.stringify(body); }}
  return fetch(path, init);
}}
{script}
</script></body></html>"#,
        name = escape(&config.name),
        station = escape(config.station.as_str()),
        place = escape(&config.place),
    )
}

/// The urn kiosk's screen.
pub fn kiosk(config: &StationConfig) -> String {
    let body = r#"
<div id="printer" class="alert" hidden></div>
<div id="scanner" class="alert" hidden>Czytnik kodów nie działa — użyj przycisku.<span class="en">The code reader is not working — use the button.</span></div>
<p class="big" id="msg-pl"></p><p class="en" id="msg-en"></p>
<div id="intake"></div>
<div id="actions"></div>"#;
    let script = r#"
function render(v) {
  document.getElementById('msg-pl').textContent = v.message_pl;
  document.getElementById('msg-en').textContent = v.message_en;
  const printer = document.getElementById('printer');
  printer.hidden = v.printer === 'ready';
  printer.textContent = v.printer === 'ready' ? '' : 'Drukarka: ' + v.printer + ' / Printer: ' + v.printer;
  document.getElementById('scanner').hidden = v.scanner_connected;
  let intake = '';
  if (v.intake) {
    intake = '<p>Numer przesyłki <span class="en">Intake number</span></p><p class="id" data-intake="' + esc(v.intake) + '">' + esc(v.intake) + '</p>';
    if (v.deposited_at) intake += '<p>Data złożenia: <strong>' + esc(v.deposited_at) + '</strong><span class="en">Date of receipt</span></p>';
  }
  if (v.reference) intake += '<p>Sygnatura z formularza: ' + esc(v.reference) + '<span class="en">Reference from your form</span></p>';
  document.getElementById('intake').innerHTML = intake;
  let actions = '';
  if (v.step === 'idle' || v.step === 'done') {
    actions = '<button class="primary" onclick="post(\'/kiosk/start\')">Nie mam kodu<span class="en">I have no code</span></button>';
  } else if (v.step === 'choose') {
    actions = '<div class="categories">' + v.categories.map(c =>
      '<button data-category="' + esc(c.id) + '" onclick="post(\'/kiosk/category/' + encodeURIComponent(c.id) + '\')">' + esc(c.name_pl) + '<span class="en">' + esc(c.name_en) + '</span></button>').join('') +
      '</div><button onclick="post(\'/kiosk/cancel\')">Anuluj<span class="en">Cancel</span></button>';
  }
  document.getElementById('actions').innerHTML = actions;
  document.body.dataset.step = v.step;
}
fetch('/kiosk/state').then(r => r.json()).then(render);
new EventSource('/kiosk/stream').onmessage = e => render(JSON.parse(e.data));
"#;
    shell(
        "Urna — złóż pismo",
        "Drop box — hand in a letter",
        config,
        body,
        script,
    )
}

/// The mailroom staff screen.
pub fn mailroom(config: &StationConfig) -> String {
    let body = r#"
<form id="scan-form"><label>Zeskanuj etykietę koperty <span class="en">Scan the envelope's label</span><br>
<input type="text" name="code" id="code" autofocus autocomplete="off"></label>
<button class="primary" type="submit">OK</button></form>
<div id="last"></div>
<h2>W kwarantannie <span class="en">In sanitising hold</span></h2>
<table><thead><tr><th>Numer <span class="en">Intake</span></th><th>Do <span class="en">Until</span></th><th>Stan <span class="en">State</span></th></tr></thead><tbody id="held"></tbody></table>"#;
    let script = r#"
document.getElementById('scan-form').onsubmit = async e => {
  e.preventDefault();
  const code = document.getElementById('code');
  await fetch('/mailroom/scan', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'code=' + encodeURIComponent(code.value) });
  code.value = ''; code.focus();
};
function render(v) {
  const last = v.last;
  document.getElementById('last').innerHTML = last ? '<div class="' + (last.ok ? 'ok' : 'alert') + '"><p class="big">' + esc(last.intake || '') + '</p><p>' + esc(last.message_pl) + '<span class="en">' + esc(last.message_en) + '</span></p></div>' : '';
  document.getElementById('held').innerHTML = v.held.map(h => '<tr><td>' + esc(h.intake) + '</td><td>' + esc(h.until) + '</td><td>' +
    (h.releasable ? 'do wydania <span class="en">ready to release</span>' : 'trwa <span class="en">holding</span>') + '</td></tr>').join('');
}
fetch('/mailroom/state').then(r => r.json()).then(render);
new EventSource('/mailroom/stream').onmessage = e => render(JSON.parse(e.data));
"#;
    shell(
        "Kancelaria — stanowisko",
        "Mailroom counter",
        config,
        body,
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
