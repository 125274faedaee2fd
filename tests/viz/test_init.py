from __future__ import annotations

import json
import subprocess
import sys

import xmodal_lab.viz as viz


def test_import_is_light_and_needs_no_display():
    code = (
        "import json, sys; import xmodal_lab.viz; "
        "print(json.dumps([m for m in ('leafmap', 'ipyleaflet', 'ipywidgets', 'umap', 'torch', "
        "'matplotlib.pyplot') if m in sys.modules]))"
    )
    env = {"PATH": "/usr/bin:/bin", "XMODAL_FAST": "1"}  # no DISPLAY, no MPLBACKEND
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == []


def test_every_public_name_resolves():
    for name in viz.__all__:
        assert callable(getattr(viz, name)), name
    assert viz.plot_pairs.__module__ == "xmodal_lab.viz.data_plots"
    assert viz.explore_map.__module__ == "xmodal_lab.viz.maps"
