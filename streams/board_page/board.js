// The capacity managers' web board: polls the worker's /status every REFRESH_MS and draws
// the region (SEHs, hospitals, destination advice, open alerts) or the nation. Values go
// into the page as text only (textContent), never as HTML.
import { NEDOCS_LABEL, hashScope, nationView, regionView, tokenShaped } from "/board/board-model.mjs";

const REFRESH_MS = 2000;
const STORED_AS = "spoedstroom-board-bearer"; // the name it has in this tab's sessionStorage

class Unauthorized extends Error {}

let index = null; // the answer of /status: scopes and names
let timer = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function table(caption, headings, rows, textColumns = 1) {
  const head = el("tr", {}, ...headings.map((h, i) => el("th", { scope: "col", class: i < textColumns ? "text" : null }, h)));
  return el("table", {}, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, ...rows));
}

function levelCell(level, text) {
  return el("td", { class: level ? `level level-${level}` : "level" }, text);
}

async function get(path) {
  const bearer = sessionStorage.getItem(STORED_AS);
  const response = await fetch(path, {
    headers: bearer ? { Authorization: `Bearer ${bearer}` } : {},
    cache: "no-store",
  });
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

function drawRegion(view) {
  const sehs = view.sehs.map((s) => el("tr", { class: s.stop ? "stop" : null },
    el("th", { scope: "row" }, s.name), el("td", { class: "text" }, s.hospital), levelCell(s.level, s.nedocs),
    levelCell(s.level, s.level ? `${s.level} ${s.label}` : "–"), el("td", {}, s.patients), el("td", {}, s.waiting),
    el("td", {}, s.boarders), el("td", {}, s.enRoute), el("td", {}, s.handovers), el("td", {}, s.longestHandover),
    el("td", {}, s.expected60), levelCell(s.predictedLevel, s.predicted60), el("td", {}, s.stop ? "STOP" : "open")));
  const hospitals = view.hospitals.map((h) => el("tr", {},
    el("th", { scope: "row" }, h.name), el("td", {}, h.occupied), el("td", {}, h.staffed), el("td", {}, h.free),
    el("td", { class: h.full ? "full" : null }, h.occupancy), el("td", {}, h.freeClinical), el("td", {}, h.freeIc),
    el("td", {}, h.wrongBed), el("td", {}, h.wrongBedDays)));
  const advice = view.advice.length
    ? el("ol", {}, ...view.advice.map((a) => el("li", { class: a.level ? `level-${a.level}` : null }, `${a.name} (${a.predicted})`)))
    : el("p", { class: "muted" }, "geen open SEH met een voorspelling");
  const alerts = view.alerts.length
    ? el("ul", { class: "alerts" }, ...view.alerts.map((a) => el("li", { class: a.severity },
      `${a.since}  ${a.kind}${a.level ? ` niveau ${a.level}` : ""}  ${a.subject}`)))
    : el("p", { class: "muted" }, "geen open meldingen");
  return [
    el("p", { class: "escalation" }, "opschalingsniveau ",
      el("strong", { class: view.escalationLevel ? `escalation-${view.escalationLevel}` : null }, view.escalationLevel ?? "–"),
      el("span", { class: view.stale ? "stale" : "muted" }, `  stand van ${view.asOf || "–"}${view.stale ? " (verouderd)" : ""}`),
      view.owner ? "" : el("span", { class: "muted" }, "  (uit Redis: een andere worker rekent deze regio)")),
    table("SEH's (instroom en doorstroom)", ["SEH", "ziekenhuis", "NEDOCS", "niveau", "patiënten", "wachtend", "boarders",
      "ambulances onderweg", "overdrachten", "langste overdracht (min)", "verwacht 60 min", "voorspeld NEDOCS 60 min",
      "status"], sehs, 2),
    el("section", {}, el("h2", {}, "Bestemmingsadvies A2/B (laagste voorspelde NEDOCS eerst)"), advice),
    table("Ziekenhuizen (kliniek en uitstroom)", ["ziekenhuis", "bezet", "operationeel", "vrij", "bezetting",
      "vrij klinisch", "vrij IC", "verkeerde-bed patiënten", "verkeerde-bed-dagen 24h"], hospitals),
    el("section", {}, el("h2", {}, "Open meldingen"), alerts),
  ];
}

function drawNation(view) {
  const row = (r, strong) => el("tr", { class: strong ? "total" : null },
    el("th", { scope: "row" }, r.name),
    el("td", { class: r.escalationLevel ? `escalation-${r.escalationLevel}` : null }, r.escalationLevel ?? "–"),
    el("td", {}, r.sehPatients), el("td", {}, r.sehBoarders), el("td", {}, r.sehsOnStop), el("td", {}, r.freeClinical),
    el("td", {}, r.freeIc), el("td", {}, r.occupancyClinical), el("td", {}, r.wrongBed),
    el("td", { class: r.stale ? "stale" : null }, r.stale ? "verouderd" : ""));
  const advice = view.advice.map((a) => el("li", {}, `${a.bedType}: ${a.places.join(", ") || "geen"}`));
  return [
    el("p", { class: view.stale ? "stale" : "muted" }, `stand van ${view.asOf || "–"}${view.stale ? " (verouderd)" : ""}`),
    table("Regio's", ["regio", "opschaling", "SEH-patiënten", "boarders", "SEH's op stop", "vrij klinisch", "vrij IC",
      "bezetting klinisch", "verkeerde-bed patiënten", ""], [...view.regions.map((r) => row(r, false)), row(view.total, true)]),
    el("section", {}, el("h2", {}, "Spreidingsadvies (meeste vrije bedden eerst)"), el("ul", {}, ...advice)),
  ];
}

function scope() {
  const wanted = hashScope(location.hash);
  const known = [...(index.nation ? [index.nation.id] : []), ...index.regions.map((r) => r.id)];
  return known.includes(wanted) ? wanted : known[0];
}

function showMessage(text) {
  const message = document.getElementById("message");
  message.textContent = text;
  message.hidden = !text;
}

async function refresh() {
  clearTimeout(timer);
  try {
    if (index === null) {
      index = await get("/status");
      const picker = document.getElementById("scope");
      picker.replaceChildren(
        ...(index.nation ? [el("option", { value: index.nation.id }, `${index.nation.name} (landelijk)`)] : []),
        ...index.regions.map((r) => el("option", { value: r.id }, r.name)));
    }
    const id = scope();
    document.getElementById("scope").value = id;
    const status = await get(`/status/${encodeURIComponent(id)}`);
    const national = index.nation !== null && id === index.nation.id;
    const view = national ? nationView(status, index.names) : regionView(status, index.names);
    document.getElementById("title").textContent = view.name;
    document.getElementById("board").replaceChildren(...(national ? drawNation(view) : drawRegion(view)));
    document.getElementById("login").hidden = true;
    showMessage(view.redisConnected ? "" : "de worker heeft geen verbinding met Redis");
  } catch (error) {
    if (error instanceof Unauthorized) {
      const refused = sessionStorage.getItem(STORED_AS) !== null;
      sessionStorage.removeItem(STORED_AS);
      document.getElementById("login").hidden = false;
      showMessage(refused ? "de worker weigerde dit token" : "");
      return; // until a token is given
    }
    showMessage(`geen antwoord van de worker (${error.message}); de getoonde stand kan verouderd zijn`);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

document.getElementById("scope").addEventListener("change", (event) => {
  location.hash = encodeURIComponent(event.target.value);
});
window.addEventListener("hashchange", refresh);
document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = document.getElementById("token");
  const given = field.value.trim();
  field.value = "";
  if (!tokenShaped(given)) { // a header could not carry it: say so rather than fail to fetch
    showMessage("een token is 16 of meer zichtbare ASCII-tekens (SPOEDSTROOM_WEB_TOKEN)");
    return;
  }
  sessionStorage.setItem(STORED_AS, given);
  refresh();
});
document.getElementById("legend").replaceChildren(
  ...Object.entries(NEDOCS_LABEL).map(([n, label]) => el("span", { class: `level level-${n}` }, `${n} ${label}`)));
refresh();
