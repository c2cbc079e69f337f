from _factory import Factory, registry, run, snap

from processors.region import RegionProcessor


def test_smoke_counts():
    f = Factory()
    p = RegionProcessor(registry())
    out = run(p, [f.arrive(0, "a"), f.triage(5, "a", "U1"), f.treat(10, "a"), f.request(30, "a")])
    s = snap(p, "location:h1-seh")
    assert (s["patients"], s["waiting"], s["boarders"], s["critical"]) == (1, 0, 1, 1)
    assert any(o.kind == "snapshot" for o in out)
