"""Words and colours that follow what the model predicts (lib.model.contract.Outcome):
the positive class is either a risk to act against or an opportunity to pursue."""

from __future__ import annotations

from dataclasses import dataclass

from lib.model.contract import BusinessSettings, Outcome
from lib.model_loader import LoadedModel
from lib.ui.charts import OPPORTUNITY_COLOURS, RISK_COLOURS


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
        return "riskiest first" if self.is_risk else "most promising first"

    @property
    def top(self) -> str:
        return "Top-risk customers" if self.is_risk else "Top prospects"

    @property
    def contact_order(self) -> str:
        return "the riskiest customers first" if self.is_risk else "the most promising customers first"


def value_title(business: BusinessSettings) -> str:
    """What the sum of probability x value is called for this kind of campaign."""
    return "Value to win" if business.is_conversion else "Revenue at risk"


def campaign_story(business: BusinessSettings) -> str:
    """How the simulator counts, in one sentence."""
    if business.is_conversion:
        return (
            "Each contact costs the contact and the offer; a contacted customer who would buy brings their value "
            "once, of which the uplift is owed to the contact."
        )
    return (
        "Each contact costs the contact and the offer; a contacted customer who would have left stays with the "
        "success rate, keeping their value for the horizon."
    )


def wording(model: LoadedModel) -> Wording:
    return Wording(model.outcome)
