"""The browser view of the model: `solara run app.py` (or `make viz`) and open the address it prints.

Set VIZ_AGENTS=500 to start with 500 users (the sliders change it too; press Reset to apply sliders).
"""

from experiments.viz import make_page

page = make_page()
