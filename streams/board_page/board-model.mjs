// The capacity managers' web board: what to show of the worker's /status answers, as
// plain values (board.js draws them; tests/web/board_model.test.mjs checks them in Node).
// No DOM here, and nothing is formatted as HTML: board.js puts every value in the page
// as text.

export const NEDOCS_LABEL = {
  1: "niet druk", 2: "druk", 3: "zeer druk", 4: "overvol", 5: "ernstig overvol", 6: "gevaarlijk overvol",
};
export const ADVICE_ROWS = 5; // destination and spreading advice: the first few places
// A figure older than this behind the browser's clock is marked stale, as the nation
// marks a region (metrics.md, "The nation": 15 minutes). A replay's stream time can run
// ahead of the clock (the demo runs at 60x): that is never stale.
export const STALE_AFTER_MS = 15 * 60 * 1000;

/** Whether a snapshot time (RFC 3339) is more than STALE_AFTER_MS behind `nowMs`. */
export function stale(asOf, nowMs) {
  const t = typeof asOf === "string" ? Date.parse(asOf) : NaN;
  return Number.isFinite(t) && nowMs - t > STALE_AFTER_MS;
}

const NONE = "–";

/** Whether `text` has the shape the worker requires of SPOEDSTROOM_WEB_TOKEN (16 or more
 * visible ASCII characters), the only kind a browser can send in a header. */
export function tokenShaped(text) {
  return typeof text === "string" && /^[\x21-\x7e]{16,}$/.test(text);
}

/** The scope a link's `#hash` asks for ("" when there is none or it is mangled). */
export function hashScope(hash) {
  try {
    return decodeURIComponent(String(hash || "").replace(/^#/, ""));
  } catch {
    return ""; // a malformed escape: the default scope, not a blank board
  }
}

/** A number as text with `digits` decimals, or a dash when there is none. */
export function number(value, digits = 0) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : NONE;
}

/** A share (0.9121) as a whole percentage ("91%"), or a dash. */
export function percent(share) {
  return typeof share === "number" && Number.isFinite(share) ? `${Math.round(share * 100)}%` : NONE;
}

/** An NEDOCS level 1-6 (else null): the board colours by it. */
export function level(value) {
  return Number.isInteger(value) && value >= 1 && value <= 6 ? value : null;
}

function nameOf(names, id) {
  return (names && typeof names[id] === "string" && names[id]) || id;
}

function sehRow(snap, names) {
  return {
    id: snap.id,
    name: nameOf(names, snap.id),
    hospital: nameOf(names, snap.hospital),
    level: level(snap.nedocs_level),
    label: NEDOCS_LABEL[snap.nedocs_level] || NONE,
    nedocs: number(snap.nedocs),
    patients: number(snap.patients),
    waiting: number(snap.waiting),
    boarders: number(snap.boarders),
    enRoute: number(snap.ambulances_en_route),
    handovers: number(snap.handovers_in_progress),
    longestHandover: number(snap.longest_handover_minutes),
    expected60: number(snap.expected_arrivals_60m, 1),
    predictedLevel: level(snap.predicted_nedocs_level_60m),
    predicted60: number(snap.predicted_nedocs_60m),
    stop: snap.status === "stop",
    sortNedocs: typeof snap.nedocs === "number" ? snap.nedocs : -1,
  };
}

function hospitalRow(snap, names) {
  const free = snap.free_beds_by_bed_type || {};
  return {
    id: snap.id,
    name: nameOf(names, snap.id),
    occupied: number(snap.occupied_beds),
    staffed: number(snap.staffed_beds),
    free: number(snap.free_beds),
    occupancy: percent(snap.occupancy),
    full: typeof snap.occupancy === "number" && snap.occupancy >= 0.95,
    freeClinical: number(free.clinical),
    freeIc: number(free.ic),
    wrongBed: number(snap.wrong_bed_patients),
    wrongBedDays: number(snap.wrong_bed_days_24h, 1),
  };
}

function alertRow(alert, names) {
  const subject = alert.location || alert.hospital || alert.partner || alert.region || "";
  return {
    kind: String(alert.kind || ""),
    level: Number.isInteger(alert.level) ? alert.level : null,
    subject: nameOf(names, subject),
    severity: alert.severity === "critical" ? "critical" : "warning",
    since: String(alert.started_at || ""),
  };
}

/** The board of one region from `/status/{region}`; `names`: ids to names (`/status`);
 * `nowMs`: the browser's clock, for `stale`. */
export function regionView(status, names = {}, nowMs = Date.now()) {
  const snaps = (status && status.snapshots) || {};
  const region = snaps[`region:${status.region}`] || {};
  const sehs = [];
  const hospitals = [];
  for (const [key, snap] of Object.entries(snaps)) {
    if (key.startsWith("location:") && snap.kind === "seh") sehs.push(sehRow(snap, names));
    else if (key.startsWith("hospital:")) hospitals.push(hospitalRow(snap, names));
  }
  // the most crowded SEH first, as a coordinator reads the board
  sehs.sort((a, b) => (b.level || 0) - (a.level || 0) || b.sortNedocs - a.sortNedocs || a.id.localeCompare(b.id));
  hospitals.sort((a, b) => a.name.localeCompare(b.name));
  const alerts = (status.open_alerts || []).map((a) => alertRow(a, names));
  alerts.sort((a, b) => (a.severity === b.severity ? b.since.localeCompare(a.since) : a.severity === "critical" ? -1 : 1));
  return {
    id: status.region,
    name: nameOf(names, status.region),
    asOf: region.as_of || null,
    stale: stale(region.as_of, nowMs),
    escalationLevel: Number.isInteger(region.escalation_level) ? region.escalation_level : null,
    sehs,
    hospitals,
    advice: (region.destination_advice || []).slice(0, ADVICE_ROWS).map((a) => ({
      name: nameOf(names, a.location),
      predicted: number(a.predicted_nedocs_60m),
      level: level(a.predicted_nedocs_level_60m),
    })),
    alerts,
    owner: status.owner !== false,
    redisConnected: status.redis_connected !== false,
  };
}

function nationRow(id, figures, names) {
  const free = figures.free_beds_by_bed_type || {};
  const occupancy = figures.occupancy_by_bed_type || {};
  return {
    id,
    name: nameOf(names, id),
    escalationLevel: Number.isInteger(figures.escalation_level) ? figures.escalation_level : null,
    sehPatients: number(figures.seh_patients),
    sehBoarders: number(figures.seh_boarders),
    sehsOnStop: number(figures.sehs_on_stop),
    freeClinical: number(free.clinical),
    freeIc: number(free.ic),
    occupancyClinical: percent(occupancy.clinical),
    wrongBed: number(figures.wrong_bed_patients),
    stale: figures.stale === true,
  };
}

/** The national board from `/status/{nation}`: a row per region, the totals, spreading advice. */
export function nationView(status, names = {}, nowMs = Date.now()) {
  const snap = (status && status.snapshot) || {};
  const regions = Object.entries(snap.regions || {}).map(([id, figures]) => nationRow(id, figures || {}, names));
  const levels = Object.keys(snap.regions_by_escalation_level || {}).map(Number).filter(Number.isInteger);
  const total = nationRow(status.nation, snap, names);
  total.escalationLevel = levels.length ? Math.max(...levels) : null;
  const advice = Object.entries(snap.spreading_advice || {}).map(([bedType, ranked]) => ({
    bedType,
    places: (ranked || []).slice(0, ADVICE_ROWS).map((r) => `${nameOf(names, r.region)} (${number(r.free_beds)})`),
  }));
  return { id: status.nation, name: nameOf(names, status.nation), asOf: snap.as_of || null,
    stale: stale(snap.as_of, nowMs), regions, total, advice, redisConnected: status.redis_connected !== false };
}
