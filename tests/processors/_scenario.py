"""A seeded mixed scenario (encounters, wards, rides, calls, capacity, status, cancels)."""

from __future__ import annotations

import random

from _factory import Factory, fmt

from topics.event import Event


def build(seed: int, n_patients: int = 12) -> list[Event]:
    rnd = random.Random(seed)
    f = Factory()
    evs: list[Event] = []
    for i in range(n_patients):
        hosp, seh, ward = rnd.choice([("h1", "h1-seh", "h1-int"), ("h2", "h2-seh", "h2-kl")])
        enc = f"E{i}"
        t = rnd.uniform(0, 240)
        evs.append(f.arrive(t, enc, loc=seh, mode=rnd.choice(["ambulance", "self_referral", "gp_referral"]), hosp=hosp))
        t += rnd.uniform(1, 20)
        evs.append(f.triage(t, enc, rnd.choice(["U0", "U1", "U2", "U3"]), hosp=hosp))
        t += rnd.uniform(1, 60)
        evs.append(f.treat(t, enc, hosp=hosp))
        if rnd.random() < 0.5:
            t += rnd.uniform(10, 90)
            evs.append(f.request(t, enc, hosp=hosp))
            t += rnd.uniform(10, 200)
            evs.append(f.admit(t, enc, ward=ward, hosp=hosp))
            if rnd.random() < 0.2:
                evs.append(f.cancel(t + 3, enc, "ward.admitted", hosp=hosp))
                continue
            t += rnd.uniform(60, 600)
            evs.append(f.ready(t, enc, rnd.choice(["vvt", "elv", "home"]), hosp=hosp))
            if rnd.random() < 0.7:
                t += rnd.uniform(60, 900)
                evs.append(f.discharge(t, enc, rnd.choice(["home", "vvt"]), hosp=hosp))
        elif rnd.random() < 0.8:
            t += rnd.uniform(10, 200)
            evs.append(f.depart(t, enc, "home", hosp=hosp))
    for j in range(6):
        t = rnd.uniform(0, 240)
        r = f"R{j}"
        urg = rnd.choice(["A0", "A1", "A2", "B"])
        evs.append(f.ev("rav", "dispatch.assigned", t + 1, ride_id=r, urgency=urg, call_received_at=fmt(t)))
        t += rnd.uniform(5, 25)
        evs.append(f.ev("rav", "dispatch.on_scene", t, ride_id=r))
        dest = rnd.choice(["h1-seh", "h2-seh"])
        t += rnd.uniform(5, 20)
        evs.append(f.ev("rav", "dispatch.transporting", t, ride_id=r, destination=dest, eta=fmt(t + 15)))
        t += rnd.uniform(5, 20)
        evs.append(f.ev("rav", "dispatch.at_hospital", t, ride_id=r, location=dest))
        t += rnd.uniform(5, 50)
        evs.append(f.ev("rav", "dispatch.handover_completed", t, ride_id=r))
    for k in range(8):
        t = rnd.uniform(0, 300)
        c = f"C{k}"
        evs.append(f.ev("hap", "call.received", t, call_id=c, service=rnd.choice(["hap", "112"])))
        evs.append(f.ev("hap", "call.completed", t + rnd.uniform(1, 30), call_id=c,
                        outcome=rnd.choice(["self_care", "appointment", "ambulance", "other"])))
    evs.append(f.capacity(rnd.uniform(0, 200), "h1-seh", rnd.choice([2, 3, 10])))
    evs.append(f.status(rnd.uniform(0, 200), "h2-seh", "stop", partner="h2"))
    evs.append(f.status(rnd.uniform(200, 400), "h2-seh", "open", partner="h2"))
    return sorted(evs, key=lambda e: e.key)
