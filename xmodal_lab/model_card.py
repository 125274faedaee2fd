"""What a saved model says about itself: input recipe, Markdown card, STAC item (MLM extension), Hub upload."""

from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xmodal_lab.data.bands import S1_BANDS, S2_BANDS
from xmodal_lab.errors import InputValueError, OutputWriteError
from xmodal_lab.files import publish

MODALITIES = {  # bands and units of each input, as the kit's models take them
    "s1": ([b.name for b in S1_BANDS], "Sentinel-1 sigma0 in dB"),
    "s2": ([b.name for b in S2_BANDS], "Sentinel-2 L2A reflectance (digital number / 10000)"),
}
ARCHITECTURES = {  # by registry name, for ``mlm:architecture``
    "contrastive": "Vision Transformer dual encoder (CLIP-style)",
    "croma": "CROMA (Vision Transformer)",
    "scale_mae": "Scale-MAE (Vision Transformer)",
    "skysense": "SkySense-style Vision Transformer",
    "mmearth": "MMEarth-style masked autoencoder",
    "segmentation": "encoder with a segmentation head",
}


def input_recipe(model: nn.Module) -> dict[str, Any]:
    """``{modality: {"bands", "units", "normalisation", ...}}``: each input's norm (mean/std, or mode/gain...)."""
    out = {}
    has_norm = any(hasattr(model, f"norm_{key}") for key in MODALITIES)  # else a segmentation model's encoder
    source = model if has_norm else getattr(model, "encoder", model)
    for key, (bands, units) in MODALITIES.items():
        norm = getattr(source, f"norm_{key}", None)
        if norm is None:
            continue
        entry: dict[str, Any] = {"bands": bands, "units": units, "normalisation": type(norm).__name__}
        if hasattr(norm, "mode"):
            entry.update(mode=norm.mode, gain=norm.gain, band_map=list(norm.bands),
                         input_range=None if norm.input_range is None else list(norm.input_range))  # fmt: skip
        if hasattr(norm, "mean"):
            entry.update(mean=norm.mean.flatten().tolist(), std=norm.std.flatten().tolist())
        out[key] = entry
    return out


def _table(rows: dict, head: tuple[str, str]) -> str:
    cells = {k: json.dumps(v).replace("|", "\\|") for k, v in rows.items()}  # a bar would end the cell
    return "\n".join([f"| {head[0]} | {head[1]} |", "|---|---|", *(f"| {k} | {c} |" for k, c in cells.items())])


def _flat(rows: dict, prefix: str = "") -> dict:
    """Nested settings as one level, ``{"fit.batch_size": 64, ...}``."""
    out = {}
    for key, value in rows.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) and value else {prefix + key: value})
    return out


CARD = """---
library_name: xmodal_lab
tags:
- earth-observation
- sentinel-1
- sentinel-2
- {name}
---

# {name} (xmodal_lab {version})

{architecture}, {parameters:,} parameters. Load it with:

```python
from xmodal_lab.models import load_model

model = load_model("{weights}")
```

## Configuration

{config}

## Input

{inputs}
## Training data

{data}

## Training run

{training}

## Metrics

{metrics}
"""


def card_markdown(card: dict[str, Any]) -> str:
    """The model card ``card`` (from :func:`~xmodal_lab.models.io.model_card`) as Markdown for people."""
    inputs = ""
    for key, entry in card.get("input", {}).items():
        shown = {k: [float(f"{v:.4g}") for v in entry[k]] if k in ("mean", "std") else entry[k]
                 for k in ("mode", "gain", "input_range", "mean", "std") if k in entry}  # fmt: skip
        norm = ", ".join(f"{k} {json.dumps(v)}" for k, v in shown.items())
        inputs += f"- `{key}`: {', '.join(entry['bands'])} ({entry['units']}); {entry['normalisation']}: {norm}\n"
    metrics, training = card.get("metrics"), card.get("training")
    return CARD.format(
        name=card["name"], version=card["xmodal_lab_version"], parameters=card["parameters"],
        architecture=ARCHITECTURES.get(card["name"], card["name"]), inputs=inputs,
        weights=(card.get("weights") or {}).get("file", "model.safetensors"),
        config=_table(card["config"], ("field", "value")), data=card.get("data") or "not recorded",
        training=_table(_flat(training), ("setting", "value")) if training
        else "not recorded (not trained by `fit` or `python -m xmodal_lab.train`)",
        metrics=_table(metrics, ("metric", "value")) if metrics else "none recorded",
    )  # fmt: skip


def push_to_hub(model: nn.Module, repo_id: str, *, card: dict[str, Any] | None = None, private: bool | None = None,
                token: str | None = None, commit_message: str = "Upload an xmodal_lab model") -> str:  # fmt: skip
    """Upload a model as a Hugging Face Hub folder (see :func:`~xmodal_lab.models.save_pretrained`); its commit URL.

    Needs a token (``hf auth login``) and the network; every failure is an OutputWriteError naming the fix.
    """
    import huggingface_hub as hub

    from xmodal_lab.models.io import save_pretrained

    keep = "or keep the model as a folder with save_pretrained(model, folder)"
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise InputValueError(f"push_to_hub: repo_id: expected 'user/name' (or 'organisation/name'), got {repo_id!r}")
    if hub.is_offline_mode():
        raise OutputWriteError(f"push_to_hub({repo_id!r}): the Hugging Face Hub is in offline mode "
                               f"(HF_HUB_OFFLINE); connect and unset it, {keep}")  # fmt: skip
    if not (token or hub.get_token()):
        raise OutputWriteError(f"push_to_hub({repo_id!r}): no Hugging Face token; log in with `hf auth login` "
                               f"(a token with write access) or pass token=, {keep}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="xmodal_hub_") as folder:
        save_pretrained(model, folder, card=card)
        api = hub.HfApi(token=token)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            commit = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
        except Exception as error:  # connection, authentication and Hub errors alike
            why = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"
            raise OutputWriteError(f"push_to_hub({repo_id!r}): the Hub did not take the upload ({why}); check the "
                                   f"connection, the token's write access and the repository id, {keep}") from None
    return str(getattr(commit, "commit_url", commit))


def model_stac_item(path: str | Path, out: str | Path | None = None) -> Path:
    """Write a STAC item (MLM extension) for the weights ``path`` that :func:`~xmodal_lab.models.save_model` wrote.

    ``out`` defaults to ``<stem>.stac.json`` beside them and is never overwritten; returns the item's path.
    """
    import pystac
    from pystac.extensions import mlm

    from xmodal_lab.models.io import card_paths, read_card

    path = Path(path)
    card = read_card(path)
    if card is None:
        raise FileNotFoundError(f"no model card {card_paths(path)[0]} beside {path}; write the model with save_model")
    config = card["config"]
    size = int(config.get("img_size", (config.get("encoder_config") or {}).get("img_size", -1)))
    dims, inputs = ["batch", "channel", "height", "width"], []
    for key, entry in card["input"].items():
        shape = mlm.InputStructure.create([-1, len(entry["bands"]), size, size], dims, "float32")
        about = f"{entry['units']}; {entry['normalisation']} inside the model"
        inputs.append(mlm.ModelInput.create(key, entry["bands"], shape, description=about))
    if card["name"] == "segmentation":
        result = mlm.ResultStructure.create([-1, int(config["num_classes"]), size, size],
                                            ["batch", "class", "height", "width"], "float32")  # fmt: skip
        output = mlm.ModelOutput.create("logits", [mlm.TaskType.SEMANTIC_SEGMENTATION], result)
    else:
        dim = int(config.get("embed_dim", config.get("proj_dim", -1)))
        result = mlm.ResultStructure.create([-1, dim], ["batch", "embedding"], "float32")
        output = mlm.ModelOutput.create("embedding", [mlm.TaskType.SIMILARITY_SEARCH], result,
                                        description="one embedding per modality, from model.embed(s1=, s2=)")
    about = f"xmodal_lab {card['name']} model; data: {card.get('data')}"
    item = pystac.Item(path.stem, geometry=None, bbox=None, datetime=datetime.datetime.now(datetime.UTC),
                       properties={"description": about})  # fmt: skip
    mlm.MLMExtension.ext(item, add_if_missing=True).apply(
        name=f"xmodal_lab-{card['name']}".replace("_", "-"), architecture=ARCHITECTURES[card["name"]],
        tasks=list(output.tasks), input=inputs, output=[output], framework="PyTorch",
        framework_version=torch.__version__.split("+")[0], total_parameters=int(card["parameters"]),
        pretrained=False, pretrained_source=None,
    )  # fmt: skip
    bands = [{"name": b} for entry in card["input"].values() for b in entry["bands"]]  # STAC 1.1: on the asset
    asset = pystac.Asset(f"./{path.name}", title="weights (safetensors)",
                         media_type="application/octet-stream; application=safetensors",
                         roles=["mlm:model", "mlm:weights", "data"], extra_fields={"bands": bands})  # fmt: skip
    item.add_asset("weights", asset)
    mlm.AssetGeneralMLMExtension.ext(asset, add_if_missing=True).apply(artifact_type="safetensors")
    item.add_asset("card", pystac.Asset(f"./{card_paths(path)[0].name}", "model card",
                                        media_type="application/json", roles=["metadata"]))  # fmt: skip
    text = json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False), indent=2) + "\n"
    out = Path(out) if out is not None else path.with_name(f"{path.stem}.stac.json")
    return publish(out, lambda tmp: tmp.write_text(text), "STAC item")


__all__ = ["card_markdown", "input_recipe", "model_stac_item", "push_to_hub"]
