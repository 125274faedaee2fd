"""What a saved model says about itself (input recipe, Markdown card, STAC MLM item), and its upload to the Hub.

The card's fields are those of :func:`xmodal_lab.models.io.model_card`; the STAC item follows the Machine
Learning Model extension (``mlm:name``, ``mlm:architecture``, ``mlm:input`` with band names and shapes,
``mlm:output``, and an asset with the ``mlm:model`` role pointing at the weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from xmodal_lab.data.bands import S1_BANDS, S2_BANDS

#: Each modality's bands and units, as the kit's models take them.
MODALITIES = {
    "s1": ([b.name for b in S1_BANDS], "Sentinel-1 sigma0 in dB"),
    "s2": ([b.name for b in S2_BANDS], "Sentinel-2 L2A reflectance (digital number / 10000)"),
}
#: Architectures by registry name, for ``mlm:architecture``.
ARCHITECTURES = {
    "contrastive": "Vision Transformer dual encoder (CLIP-style)",
    "croma": "CROMA (Vision Transformer)",
    "scale_mae": "Scale-MAE (Vision Transformer)",
    "skysense": "SkySense-style Vision Transformer",
    "mmearth": "MMEarth-style masked autoencoder",
    "segmentation": "encoder with a segmentation head",
}


def input_recipe(model: nn.Module) -> dict[str, Any]:
    """``{modality: {"bands", "units", "normalisation", ...}}``: what each input goes through first.

    A kit ``InputNorm`` gives its ``mean`` / ``std``; a published checkpoint's ``InputRecipe`` also its
    ``mode``, ``gain``, ``input_range`` and band mapping.
    """
    out = {}
    has_norm = any(hasattr(model, f"norm_{key}") for key in MODALITIES)
    source = model if has_norm else getattr(model, "encoder", model)  # a segmentation model's: its encoder's
    for key, (bands, units) in MODALITIES.items():
        norm = getattr(source, f"norm_{key}", None)
        if norm is None:
            continue
        entry: dict[str, Any] = {"bands": bands, "units": units, "normalisation": type(norm).__name__}
        if hasattr(norm, "mode"):
            input_range = None if norm.input_range is None else list(norm.input_range)
            entry.update(mode=norm.mode, gain=norm.gain, band_map=list(norm.bands), input_range=input_range)
        if hasattr(norm, "mean"):
            entry.update(mean=norm.mean.flatten().tolist(), std=norm.std.flatten().tolist())
        out[key] = entry
    return out


def _table(rows: dict, head: tuple[str, str]) -> str:
    cell = lambda v: json.dumps(v).replace("|", "\\|")  # noqa: E731 (a bar would end the cell)
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|", *(f"| {k} | {cell(v)} |" for k, v in rows.items())]
    return "\n".join(lines)


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
    inputs = []
    for key, entry in card.get("input", {}).items():
        shown = {k: [float(f"{v:.4g}") for v in entry[k]] if k in ("mean", "std") else entry[k] for k in entry}
        keys = [k for k in ("mode", "gain", "input_range", "mean", "std") if k in entry]
        norm = ", ".join(f"{k} {json.dumps(shown[k])}" for k in keys)
        bands = ", ".join(entry["bands"])
        inputs.append(f"- `{key}`: {bands} ({entry['units']}); {entry['normalisation']}: {norm}\n")
    metrics = card.get("metrics") or {}
    return CARD.format(
        name=card["name"],
        version=card["xmodal_lab_version"],
        architecture=ARCHITECTURES.get(card["name"], card["name"]),
        parameters=card["parameters"],
        weights=(card.get("weights") or {}).get("file", "model.safetensors"),
        config=_table(card["config"], ("field", "value")),
        inputs="".join(inputs),
        data=card.get("data") or "not recorded",
        training=_table(_flat(card["training"]), ("setting", "value")) if card.get("training") else "not recorded "
        "(not trained by `fit` or `python -m xmodal_lab.train`)",
        metrics=_table(metrics, ("metric", "value")) if metrics else "none recorded",
    )


def push_to_hub(model: nn.Module, repo_id: str, *, card: dict[str, Any] | None = None, private: bool | None = None,
                token: str | None = None, commit_message: str = "Upload an xmodal_lab model") -> str:  # fmt: skip
    """Upload a model as a Hugging Face Hub folder (see :func:`~xmodal_lab.models.save_pretrained`); its commit URL.

    Needs an account (``hf auth login``, or ``token=``) and the network: offline (``HF_HUB_OFFLINE``) or without
    a token it fails before writing anything; every failure is an OutputWriteError naming the fix.
    """
    import tempfile

    import huggingface_hub as hub

    from xmodal_lab.errors import InputValueError, OutputWriteError
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
    """Write a STAC item with the MLM extension describing a ``.safetensors`` model and its card.

    Args:
        path: the weights written by :func:`~xmodal_lab.models.io.save_model`, with their ``.json`` card.
        out: the item's file (default ``<stem>.stac.json`` beside the weights); never overwritten.

    Returns:
        The item's path; its ``weights`` asset points at the weights by a relative link.
    """
    import datetime

    import pystac
    import torch
    from pystac.extensions import mlm

    from xmodal_lab.files import publish
    from xmodal_lab.models.io import card_paths, read_card

    path = Path(path)
    card = read_card(path)
    if card is None:
        raise FileNotFoundError(f"no model card {card_paths(path)[0]} beside {path}; write the model with save_model")
    out = Path(out) if out is not None else path.with_name(f"{path.stem}.stac.json")
    config = card["config"]
    size = int(config.get("img_size", (config.get("encoder_config") or {}).get("img_size", -1)))
    segmentation = card["name"] == "segmentation"
    dims = ["batch", "channel", "height", "width"]
    inputs = []
    for key, entry in card["input"].items():
        shape = mlm.InputStructure.create([-1, len(entry["bands"]), size, size], dims, "float32")
        about = f"{entry['units']}; {entry['normalisation']} inside the model"
        inputs.append(mlm.ModelInput.create(key, entry["bands"], shape, description=about))
    if segmentation:
        shape = [-1, int(config["num_classes"]), size, size]
        result = mlm.ResultStructure.create(shape, ["batch", "class", "height", "width"], "float32")
        output = mlm.ModelOutput.create("logits", [mlm.TaskType.SEMANTIC_SEGMENTATION], result)
    else:
        dim = int(config.get("embed_dim", config.get("proj_dim", -1)))
        result = mlm.ResultStructure.create([-1, dim], ["batch", "embedding"], "float32")
        about = "one embedding per modality, from model.embed(s1=, s2=)"
        output = mlm.ModelOutput.create("embedding", [mlm.TaskType.SIMILARITY_SEARCH], result, description=about)
    about = f"xmodal_lab {card['name']} model; data: {card.get('data')}"
    now = datetime.datetime.now(datetime.UTC)
    item = pystac.Item(path.stem, geometry=None, bbox=None, datetime=now, properties={"description": about})
    mlm.MLMExtension.ext(item, add_if_missing=True).apply(
        name=f"xmodal_lab-{card['name']}".replace("_", "-"),
        architecture=ARCHITECTURES[card["name"]],
        tasks=list(output.tasks),
        input=inputs,
        output=[output],
        framework="PyTorch",
        framework_version=torch.__version__.split("+")[0],
        total_parameters=int(card["parameters"]),
        pretrained=False,
        pretrained_source=None,
    )
    bands = [{"name": b} for entry in card["input"].values() for b in entry["bands"]]  # STAC 1.1: on the asset
    asset = pystac.Asset(
        f"./{path.name}",
        title="weights (safetensors)",
        media_type="application/octet-stream; application=safetensors",
        roles=["mlm:model", "mlm:weights", "data"],
        extra_fields={"bands": bands},
    )
    item.add_asset("weights", asset)
    mlm.AssetGeneralMLMExtension.ext(asset, add_if_missing=True).apply(artifact_type="safetensors")
    card_file = f"./{card_paths(path)[0].name}"
    item.add_asset("card", pystac.Asset(card_file, "model card", media_type="application/json",
                                        roles=["metadata"]))
    text = json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False), indent=2) + "\n"
    return publish(out, lambda tmp: tmp.write_text(text), "STAC item")


__all__ = ["card_markdown", "input_recipe", "model_stac_item", "push_to_hub"]
