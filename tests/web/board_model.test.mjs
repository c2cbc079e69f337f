// The web board's model (streams/board_page/board-model.mjs) on real status answers:
// tests/streams/test_board_page.py replays simulated hours of a region and of the nation
// and hands their /status answers and the expected figures over in BOARD_FIXTURE.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { ADVICE_ROWS, STALE_AFTER_MS, hashScope, level, nationView, number, percent, regionView, stale, tokenShaped }
  from "../../streams/board_page/board-model.mjs";

const fixture = JSON.parse(readFileSync(process.env.BOARD_FIXTURE, "utf8"));

test("numbers, shares and levels as the board shows them", () => {
  assert.equal(number(22.16), "22");
  assert.equal(number(2.24, 1), "2.2");
  assert.equal(number(null), "–");
  assert.equal(number("12"), "–"); // only numbers are figures
  assert.equal(number(Infinity), "–");
  assert.equal(percent(0.9121), "91%");
  assert.equal(percent(undefined), "–");
  assert.equal(level(4), 4);
  assert.equal(level(7), null);
  assert.equal(level("4"), null);
});

test("a region: every SEH, the most crowded first, with the registry's names", () => {
  const view = regionView(fixture.region.status, fixture.names);
  const expected = fixture.region.expected;
  assert.equal(view.name, expected.name);
  assert.equal(view.escalationLevel, expected.escalation_level);
  assert.equal(view.asOf, expected.as_of);
  assert.deepEqual(view.sehs.map((s) => s.id).sort(), [...expected.seh_ids].sort());
  assert.deepEqual(view.sehs.map((s) => s.name).sort(), [...expected.seh_names].sort());
  const levels = view.sehs.map((s) => s.level || 0);
  assert.deepEqual(levels, [...levels].sort((a, b) => b - a), "most crowded first");
  for (const seh of view.sehs) {
    const snap = fixture.region.status.snapshots[`location:${seh.id}`];
    assert.equal(seh.patients, String(snap.patients));
    assert.equal(seh.nedocs, number(snap.nedocs));
    assert.equal(seh.stop, snap.status === "stop");
  }
  assert.equal(view.hospitals.length, expected.hospitals);
  assert.ok(view.advice.length <= ADVICE_ROWS);
  assert.equal(view.advice.length, Math.min(ADVICE_ROWS, expected.advice));
  assert.equal(view.alerts.length, expected.open_alerts);
  const severities = view.alerts.map((a) => a.severity);
  assert.deepEqual(severities, [...severities].sort((a, b) => (a === b ? 0 : a === "critical" ? -1 : 1)));
});

test("the nation: a row per region, the totals, spreading advice", () => {
  const view = nationView(fixture.nation.status, fixture.names);
  const expected = fixture.nation.expected;
  assert.deepEqual(view.regions.map((r) => r.id), expected.region_ids);
  assert.deepEqual(view.regions.map((r) => r.name), expected.region_names);
  assert.equal(view.total.sehPatients, String(expected.seh_patients));
  assert.equal(view.total.escalationLevel, expected.highest_level);
  assert.deepEqual(view.advice.map((a) => a.bedType), expected.advice_bed_types);
  for (const a of view.advice) assert.ok(a.places.length <= ADVICE_ROWS);
});

test("what a status answer lacks shows as a dash, never as an error", () => {
  const view = regionView({ region: "x", snapshots: { "location:s": { id: "s", kind: "seh" } } }, {});
  assert.equal(view.sehs[0].patients, "–");
  assert.equal(view.escalationLevel, null);
  assert.equal(nationView({ nation: "nl" }, {}).regions.length, 0);
});

test("a figure more than 15 minutes behind the clock is stale; stream time ahead of it never is", () => {
  const t = Date.parse("2026-11-22T10:00:00Z");
  assert.equal(stale("2026-11-22T10:00:00Z", t + STALE_AFTER_MS), false);
  assert.equal(stale("2026-11-22T10:00:00Z", t + STALE_AFTER_MS + 1000), true);
  assert.equal(stale("2026-11-22T12:00:00Z", t), false); // the demo's stream time runs ahead
  assert.equal(stale(null, t), false);
  assert.equal(stale("not a time", t), false);
  const asOf = fixture.region.expected.as_of;
  assert.equal(regionView(fixture.region.status, fixture.names, Date.parse(asOf) + 60_000).stale, false);
  assert.equal(regionView(fixture.region.status, fixture.names, Date.parse(asOf) + 3_600_000).stale, true);
});

test("a token the worker could accept, and a link's scope, never break the board", () => {
  assert.equal(tokenShaped("T0k<e>n\"&'%#\\;/=+$!~zz"), true);
  assert.equal(tokenShaped("short-token"), false);
  assert.equal(tokenShaped("paste\u20acwith-euro-0123456789"), false); // fetch would throw on it
  assert.equal(tokenShaped("with a space 0123456789"), false);
  assert.equal(tokenShaped(undefined), false);
  assert.equal(hashScope("#haaglanden"), "haaglanden");
  assert.equal(hashScope("#%E0%A4%A"), ""); // malformed: the default scope
  assert.equal(hashScope("#%"), "");
  assert.equal(hashScope(""), "");
});
