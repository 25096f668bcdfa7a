"""Colours and source names every chart shares (plotly's and the Overview's SVG ones);
a module of its own so the Overview never imports plotly."""

from lib.ui.i18n import N_

PRIMARY = "#0F62FE"
# (positive class, negative class) by polarity, from the Okabe-Ito palette: readable by
# colour-blind readers, never red against green.
RISK_COLOURS = ("#D55E00", "#0072B2")  # vermillion for the bad news, blue for the other
OPPORTUNITY_COLOURS = ("#009E73", "#7F7F7F")  # bluish green for the good news, grey for the other
MUTED = "#8D8D8D"
SOURCE_NAMES = {"ui": N_("form"), "batch": N_("batch"), "api": N_("API")}  # how the log's sources are shown
