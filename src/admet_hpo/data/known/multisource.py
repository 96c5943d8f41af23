"""``adme_multisource``: Biogen plus nine AstraZeneca ChEMBL deposits as ONE multi-source table.

Sources: the Biogen file (:mod:`admet_hpo.data.known.biogen`, MIT) and the AstraZeneca ChEMBL deposit
CHEMBL3301361 (Wenlock & Tomkinson; ChEMBL data CC BY-SA 3.0) as nine per-assay files prepared by
netknowledge/ADMET, all pinned in :mod:`admet_hpo.data.known.sources`. ``docs/data/adme_multisource.md``
gives the same mapping with the measured counts. Decisions:

- **experiment = lab**: ``biogen`` / ``astrazeneca``.
- **condition = species**: ``human``, ``rat``, ``dog``, ``mouse``, or ``physchem`` (solubility, logD,
  and Biogen's MDR1-MDCK efflux ratio).
- **records**: one per (compound, condition, quality), see :mod:`admet_hpo.data.known.records`. Biogen
  compounds are its rows (``biogen:<Internal ID>``); AstraZeneca compounds are InChIKeys
  (``astrazeneca:<InChIKey>``) merged over the nine files, taking the SMILES of the first file listing
  them (file order below). The two labs' records of one molecule stay separate records (their own
  experiment); splits group them by InChIKey anyway.
- **targets**: the six Biogen targets keep their names and log10 units. Shared columns where units
  agree: ``hPPB`` and ``rPPB`` (log10 % unbound in both labs). Lab-specific AZ columns where units
  differ from Biogen's or Biogen has no such assay: ``dPPB``, ``mPPB`` (log10 % unbound),
  ``HLM_CLint_az`` (log10 uL/min/mg microsomal protein; Biogen's ``HLM_CLint`` is scaled per kg body
  weight), ``HH_CLint_az`` / ``RH_CLint_az`` (log10 uL/min/1e6 hepatocytes, kept as their own tasks
  rather than as proxies of microsomal clearance because the units differ and no scaling is given),
  ``logD`` (logD7.4). AZ solubility (log10 mol/L at pH 7.4) is converted to Biogen's log10 ug/mL
  (+ log10 of RDKit's average molecular weight + 3) and shares the ``solubility`` column as a
  *converted, different-pH proxy*: quality ``medium``.
- **quality**: ``high`` = exact value inside the assay range; ``medium`` = converted AZ solubility;
  ``low`` = censored at an assay limit (decided on the source value, per cell): AZ PPB at 99.95 % bound
  (log -1.301) or 10 % bound (log 1.954 in the files, matched within 1e-3), AZ CLint at 3 or 150, AZ
  solubility at 0.1 uM (-7.0) or ~1.5 mM (-2.82, within 1e-3), AZ logD at its range ends -1.5 / 4.5, and
  the Biogen floors / ceilings listed in :mod:`admet_hpo.data.known.biogen`.
- **qualifiers**: every target has a ``<target> modifier`` column: ``<`` at an assay floor (AZ PPB
  99.95 % bound, CLint 3, solubility 0.1 uM, logD -1.5, Biogen floors), ``>`` at a ceiling (AZ PPB 10 %
  bound, CLint 150, solubility ~1.5 mM, logD 4.5, Biogen PPB at 100 % unbound), ``=`` otherwise. They
  are read as bounds only when asked (``data.qualifier_cols: "{target} modifier"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit.Chem import Descriptors

from admet_hpo.data.known import biogen
from admet_hpo.data.known.records import Endpoint, endpoint_cells, pack_records
from admet_hpo.data.molecules import molecule_key, parse_smiles

EXPERIMENT = "astrazeneca"
CONDITIONS = ("human", "rat", "dog", "mouse", "physchem")
# (floor, ceiling) in the source units: values at a floor are "<", at a ceiling ">".
PPB_LIMITS = {"floors": (math.log10(0.05),), "ceilings": (math.log10(90.0),)}
CLINT_LIMITS = {"floors": (math.log10(3.0),), "ceilings": (math.log10(150.0),)}
SOLUBILITY_LIMITS = {"floors": (-7.0,), "ceilings": (-2.82,)}
LOGD_LIMITS = {"floors": (-1.5,), "ceilings": (4.5,)}


def logs_to_log_ug_per_ml(log_mol_per_l: np.ndarray, smiles: np.ndarray) -> np.ndarray:
    """log10 mol/L -> log10 ug/mL: + log10(MW g/mol) + 3 (g/L = mg/mL = 1000 ug/mL)."""
    weights = np.array([Descriptors.MolWt(parse_smiles(s)) for s in smiles], dtype=float)
    return log_mol_per_l + np.log10(weights) + 3.0


AZ_ENDPOINTS: dict[str, Endpoint] = {
    "PPB_AZ-hPPB.csv": Endpoint("hPPB", "log_pct_unbound", "human", **PPB_LIMITS, tolerance=1e-3),
    "PPB_AZ-rPPB.csv": Endpoint("rPPB", "log_pct_unbound", "rat", **PPB_LIMITS, tolerance=1e-3),
    "PPB_AZ-dPPB.csv": Endpoint("dPPB", "log_pct_unbound", "dog", **PPB_LIMITS, tolerance=1e-3),
    "PPB_AZ-mPPB.csv": Endpoint("mPPB", "log_pct_unbound", "mouse", **PPB_LIMITS, tolerance=1e-3),
    "microsomal_AZ-hLM.csv": Endpoint("HLM_CLint_az", "LOG HLM_CLint (mL/min/g)", "human", **CLINT_LIMITS),
    "hepatocyte_AZ-hH.csv": Endpoint(
        "HH_CLint_az", "LOG HH_CLint (uL/min/1E6 cells)", "human", **CLINT_LIMITS
    ),
    "hepatocyte_AZ-rH.csv": Endpoint("RH_CLint_az", "LOG RH_CLint (uL/min/1E6 cells)", "rat", **CLINT_LIMITS),
    "solubility_AZ-sol.csv": Endpoint(
        "solubility",
        "logS",
        "physchem",
        **SOLUBILITY_LIMITS,
        tolerance=1e-3,
        in_range_quality="medium",
        convert=logs_to_log_ug_per_ml,
    ),
    "lipophilicity_AZ-lipo.csv": Endpoint("logD", "logD7.4", "physchem", **LOGD_LIMITS),
}
TARGETS = (*biogen.TARGETS, "dPPB", "mPPB", "HLM_CLint_az", "HH_CLint_az", "RH_CLint_az", "logD")


def astrazeneca_cells(files: Mapping[str, Path]) -> pd.DataFrame:
    """Cells of the nine AZ files (keys: file names), compounds merged by InChIKey in file order."""
    frames = {name: pd.read_csv(files[name]) for name in AZ_ENDPOINTS}
    all_smiles = pd.unique(pd.concat([frame["canonical_smiles"] for frame in frames.values()]).astype(str))
    compound_of = {s: f"{EXPERIMENT}:{molecule_key(s)}" for s in all_smiles}
    first_smiles = {}
    for s in all_smiles:
        first_smiles.setdefault(compound_of[s], s)
    parts = []
    for name, endpoint in AZ_ENDPOINTS.items():
        frame = frames[name]
        compounds = frame["canonical_smiles"].astype(str).map(compound_of).to_numpy(dtype=object)
        smiles = np.array([first_smiles[c] for c in compounds], dtype=object)
        values = frame[endpoint.source_column].to_numpy(dtype=float)
        parts.append(endpoint_cells(compounds, smiles, values, EXPERIMENT, endpoint))
    cells = pd.concat(parts, ignore_index=True)
    first_seen = {compound: i for i, compound in enumerate(dict.fromkeys(compound_of[s] for s in all_smiles))}
    return cells.iloc[np.argsort(cells["compound"].map(first_seen).to_numpy(), kind="stable")]


def build_adme_multisource(files: Mapping[str, Path]) -> pd.DataFrame:
    """The ``adme_multisource`` table from the ten checked source files (keys: file names)."""
    cells = pd.concat(
        [biogen.biogen_cells(files[biogen.SOURCE_NAME]), astrazeneca_cells(files)], ignore_index=True
    )
    return pack_records(cells, TARGETS, CONDITIONS)
