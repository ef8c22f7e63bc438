"""benchmarks.sections.image_sizes: every size at every client count, in rotating order, with the server's CPU."""

from __future__ import annotations

import os

from benchmarks.sections import image_sizes
from fakes import ColourClassifier, in_process_model_server
from harness.launch import start_web_app

SMALL = {"64×48 JPEG": ((64, 48), "JPEG"), "1920×1080 PNG": ((1920, 1080), "PNG")}


def test_every_size_and_form_is_measured_in_every_round_and_a_bigger_file_costs_the_server_more_cpu():
    images = image_sizes.workload(SMALL, per_size=1)
    with in_process_model_server(ColourClassifier(), workers=2) as address:
        bursts = image_sizes.measure(address, os.getpid(), images, rounds=2, clients=(1, 2), requests=4,
                                     timeout_s=10)
    conditions = [("64×48 JPEG", "file"), ("64×48 JPEG", "pixels"), ("1920×1080 PNG", "file"),
                  ("1920×1080 PNG", "pixels")]
    in_order = [(b.round, b.size, b.form) for b in bursts if b.clients == 1]
    assert in_order == [(0, *c) for c in conditions] + [(1, *c) for c in conditions[1:] + conditions[:1]]
    assert all(b.requests == 4 and b.throughput > 0 and b.server_cpu_ms >= 0 for b in bursts)
    assert all((b.client_decode_ms > 0) == (b.form == "pixels") for b in bursts), bursts
    rows = image_sizes.summary(bursts, cores=2)
    assert [(row["size"], row["form"], row["clients"], row["rounds"]) for row in rows] == [
        (*c, clients, 2) for c in conditions for clients in (1, 2)]
    cpu = {(row["size"], row["form"], row["clients"]): row["server CPU ms/request"] for row in rows}
    # Decoding the PNG (about 2 million pixels) measured 34-44 CPU ms a request here, the tiny JPEG
    # 0-6 (the kernel counts CPU time in 10 ms ticks, over 5 requests here).
    assert cpu[("1920×1080 PNG", "file", 1)] - cpu[("64×48 JPEG", "file", 1)] > 15, cpu
    decode = {(b.size, b.form): b.client_decode_ms for b in bursts if b.form == "pixels"}
    assert decode[("1920×1080 PNG", "pixels")] > decode[("64×48 JPEG", "pixels")], decode
    assert "| size | form | clients |" in image_sizes.markdown(rows)


def test_the_web_app_form_posts_the_file_to_the_real_web_app_and_reads_its_cpu():
    images = image_sizes.workload({"1920×1080 PNG": ((1920, 1080), "PNG")}, per_size=1)
    with in_process_model_server(ColourClassifier(), workers=2) as address, \
            start_web_app(address, name="image-sizes-web", wsgi_server="waitress") as web:
        bursts = image_sizes.measure(address, os.getpid(), images, rounds=1, clients=(1,), requests=4,
                                     timeout_s=10, web=(f"{web.address}/api/predict", web.pid))
    by_form = {b.form: b for b in bursts}
    assert sorted(by_form) == sorted(["file", "pixels", image_sizes.WEB])
    # The web app decodes the PNG itself (34-44 CPU ms here, measured as the server's for the file).
    assert by_form[image_sizes.WEB].web_cpu_ms > 10, by_form
    assert by_form["file"].web_cpu_ms == by_form["pixels"].web_cpu_ms == 0.0
    row = next(r for r in image_sizes.summary(bursts, cores=2) if r["form"] == image_sizes.WEB)
    assert row["web app CPU ms/request"] == by_form[image_sizes.WEB].web_cpu_ms
