"""Words (English; the pages translate them) and colours that follow what the model predicts
the positive class is either a risk to act against or an opportunity to pursue."""

from __future__ import annotations

from dataclasses import dataclass

from lib.model.contract import BusinessSettings, Outcome
from lib.model_loader import LoadedModel
from lib.ui.i18n import N_
from lib.ui.palette import OPPORTUNITY_COLOURS, RISK_COLOURS


@dataclass(frozen=True)
class Wording:
    outcome: Outcome

    @property
    def is_risk(self) -> bool:
        return self.outcome.positive_is == "risk"

    @property
    def colours(self) -> tuple[str, str]:
        """(positive class, negative class), told apart without relying on red and green."""
        return RISK_COLOURS if self.is_risk else OPPORTUNITY_COLOURS

    @property
    def ranked(self) -> str:
        return N_("riskiest first") if self.is_risk else N_("most promising first")

    @property
    def top(self) -> str:
        return N_("Top-risk customers") if self.is_risk else N_("Top prospects")

    @property
    def contact_order(self) -> str:
        return N_("the riskiest customers first") if self.is_risk else N_("the most promising customers first")


def value_title(business: BusinessSettings) -> str:
    """What the sum of probability x value is called for this kind of campaign."""
    return N_("Value to win") if business.is_conversion else N_("Revenue at risk")


def campaign_story(business: BusinessSettings) -> str:
    """How the simulator counts, in one sentence."""
    if business.is_conversion:
        return N_(
            "Each contact costs the contact and the offer; a contacted customer who would buy brings their value "
            "once, of which the uplift is owed to the contact."
        )
    return N_(
        "Each contact costs the contact and the offer; a contacted customer who would have left stays with the "
        "success rate, keeping their value for the horizon."
    )


def wording(model: LoadedModel) -> Wording:
    return Wording(model.outcome)
