"""The browser view of the model: `make viz` (or `solara run app.py`), then open the address it prints.

Optional, checked before the page is served:
    VIZ_AGENTS=500        start with 500 users (the slider changes it too; sliders apply on Reset)
    VIZ_CONFIG=my.toml    start from this config file (it joins the scenarios/*.toml in the selector)
"""

from experiments.viz import make_page

page = make_page()
