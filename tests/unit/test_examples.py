"""The two shipped examples: the campaign data is the seeded script's output, and
DATA_CONFIG alone switches the served model."""

import hashlib
import importlib.util

from lib.model.bundle import read_pointer
from lib.model_loader import load_model
from lib.settings import PROJECT_ROOT, get_settings

CAMPAIGN_CONFIG = PROJECT_ROOT / "data" / "campaign.toml"


def test_the_campaign_csv_is_what_its_seeded_script_writes():
    spec = importlib.util.spec_from_file_location("make_campaign", PROJECT_ROOT / "data" / "make_campaign.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.campaign().to_csv(index=False, lineterminator="\n").encode()
    committed = (PROJECT_ROOT / "data" / "campaign.csv").read_bytes()
    assert hashlib.sha256(written).hexdigest() == hashlib.sha256(committed).hexdigest()


def test_data_config_alone_selects_the_example_and_its_committed_model():
    telco, campaign = get_settings({}), get_settings({"DATA_CONFIG": str(CAMPAIGN_CONFIG)})
    assert telco.model_uri == str(PROJECT_ROOT / "models")
    assert campaign.model_uri == str(PROJECT_ROOT / "models" / "campaign")
    assert get_settings({"DATA_CONFIG": str(CAMPAIGN_CONFIG), "MODEL_URI": "s3://b/p"}).model_uri == "s3://b/p"
    model = load_model(campaign.model_uri)
    assert model.version == read_pointer(PROJECT_ROOT / "models" / "campaign")
    assert (model.outcome.positive, model.outcome.positive_is) == ("Subscribed", "opportunity")
    assert model.scorer.kind == "compiled_trees" and model.metadata.business.is_conversion
    assert (
        model.metadata.dataset.sha256
        == hashlib.sha256((PROJECT_ROOT / "data" / "campaign.csv").read_bytes()).hexdigest()
    )
