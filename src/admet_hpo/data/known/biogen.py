"""``biogen_adme``: the Biogen public ADME set (Fang et al., J. Chem. Inf. Model. 2023, 63, 3263; MIT).

Source: ``ADME_public_set_3521.csv`` (3,521 compounds, six sparse endpoints, already log10), pinned in
:data:`admet_hpo.data.known.sources.BIOGEN_FILE`. Mapping (also in ``docs/data/adme_multisource.md``):

| target | source column | condition | censored (quality ``low``, qualifier) |
| --- | --- | --- | --- |
| ``HLM_CLint`` | ``LOG HLM_CLint (mL/min/kg)`` | human | at the floor 0.675686709 (4.74 mL/min/kg), ``<`` |
| ``MDR1_ER`` | ``LOG MDR1-MDCK ER (B-A/A-B)`` | physchem | none |
| ``solubility`` | ``LOG SOLUBILITY PH 6.8 (ug/mL)`` | physchem | at the floor -1.0 (0.1 ug/mL), ``<`` |
| ``hPPB`` | ``LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)`` | human | at 2.0 (100 % unbound), ``>`` |
| ``rPPB`` | ``LOG PLASMA PROTEIN BINDING (RAT) (% unbound)`` | rat | at 2.0, ``>`` |
| ``RLM_CLint`` | ``LOG RLM_CLint (mL/min/kg)`` | rat | at the floor 1.027920136 (10.66 mL/min/kg), ``<`` |

Units stay as in the file (log10). ``experiment`` is ``biogen`` (``CollectionName`` is the compound
vendor, not an assay batch, and is dropped). ``condition`` is the species (MDR1-MDCK ER is a canine cell
line with human MDR1, grouped with the physicochemical endpoint as the data README suggests). Every other
value is ``high``. Each compound becomes one record per (condition, quality) it has values for, so the
two tautomer records of irbesartan (``Mol340`` / ``Mol1460``) stay separate measurements; the compound
column keeps ``biogen:<Internal ID>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from admet_hpo.data.known.records import Endpoint, endpoint_cells, pack_records

SOURCE_NAME = "ADME_public_set_3521.csv"
EXPERIMENT = "biogen"
CONDITIONS = ("human", "rat", "physchem")
ENDPOINTS = (
    Endpoint("HLM_CLint", "LOG HLM_CLint (mL/min/kg)", "human", floors=(0.675686709,)),
    Endpoint("MDR1_ER", "LOG MDR1-MDCK ER (B-A/A-B)", "physchem"),
    Endpoint("solubility", "LOG SOLUBILITY PH 6.8 (ug/mL)", "physchem", floors=(-1.0,)),
    Endpoint("hPPB", "LOG PLASMA PROTEIN BINDING (HUMAN) (% unbound)", "human", ceilings=(2.0,)),
    Endpoint("rPPB", "LOG PLASMA PROTEIN BINDING (RAT) (% unbound)", "rat", ceilings=(2.0,)),
    Endpoint("RLM_CLint", "LOG RLM_CLint (mL/min/kg)", "rat", floors=(1.027920136,)),
)
TARGETS = tuple(endpoint.target for endpoint in ENDPOINTS)


def biogen_cells(path: Path) -> pd.DataFrame:
    """One cell per labelled (compound, endpoint) of the Biogen file, in file order."""
    frame = pd.read_csv(path)
    compounds = ("biogen:" + frame["Internal ID"].astype(str)).to_numpy(dtype=object)
    smiles = frame["SMILES"].astype(str).to_numpy(dtype=object)
    parts = [
        endpoint_cells(compounds, smiles, frame[e.source_column].to_numpy(dtype=float), EXPERIMENT, e)
        for e in ENDPOINTS
    ]
    cells = pd.concat(parts, ignore_index=True)
    file_position = cells["compound"].map({compound: i for i, compound in enumerate(compounds)})
    return cells.iloc[np.argsort(file_position.to_numpy(), kind="stable")].reset_index(drop=True)


def build_biogen_adme(biogen_csv: Path) -> pd.DataFrame:
    """The ``biogen_adme`` table (see the module docstring) from the checked source file."""
    return pack_records(biogen_cells(biogen_csv), TARGETS, CONDITIONS)
