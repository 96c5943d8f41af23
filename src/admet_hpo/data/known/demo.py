"""``demo``: a small synthetic multi-source table the product builds itself, offline and deterministically.

Molecules are small, real-looking and made by enumeration: a ring fragment with a cap (``CC(=O)`` +
``N1CCOCC1``), or two ring fragments joined by a linker (``c1ccncc1`` + ``C(=O)N`` + ``c1ccsc1``), with
optional substituents; fragments are written so the atom before a ring opening and after a ring closure
is the attachment point. Every SMILES is checked with RDKit, molecules with implausible bonds (N-N, N-O,
N-halogen, N-CN) are dropped, and the rest are de-duplicated by canonical SMILES.

Targets are fixed functions of RDKit descriptors (Crippen logP, TPSA, H-bond donors, aromatic rings,
fraction sp3, molecular weight) plus an experiment offset, a species offset and Gaussian noise whose
size grows as the label quality drops (high 0.1, medium 0.25, low 0.5), so a model can learn them and
low-quality labels are visibly noisier. Tasks are sparse and imbalanced: ``logD`` ~70 % of records,
``solubility`` ~50 %, ``clearance`` ~45 %, ``permeability`` ~30 %, ``toxicity`` ~5 % (the rare task);
every record has at least one label. Three experiments (``lab_a`` / ``lab_b`` / ``lab_c``, 50/30/20 %),
two conditions (``human`` / ``rat``), three qualities (``high`` / ``medium`` / ``low``, 50/30/20 %). One
molecule in ten gets a second record in the other species, as multi-condition data would.

Everything comes from :data:`SEED` through one NumPy generator; the same code gives the same table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, rdMolDescriptors

from admet_hpo.data.molecules import parse_smiles

SEED = 20230101
N_MOLECULES = 1000
TARGETS = ("logD", "solubility", "clearance", "permeability", "toxicity")
LABEL_RATES = (0.70, 0.50, 0.45, 0.30, 0.05)
EXPERIMENTS = (("lab_a", 0.5, 0.0), ("lab_b", 0.3, 0.15), ("lab_c", 0.2, -0.15))
CONDITIONS = (("human", 0.6, 0.0), ("rat", 0.4, 0.3))
QUALITIES = (("high", 0.5, 0.1), ("medium", 0.3, 0.25), ("low", 0.2, 0.5))
SECOND_CONDITION_RATE = 0.1

# Ring fragments: "{}" marks an optional substituent (a branch); first and last atoms attach.
RINGS = (
    "c1cc{}ccc1",
    "c1ccc{}cc1",
    "c1ccncc1",
    "c1cc{}ncc1",
    "c1cncnc1",
    "c1ccsc1",
    "c1ccoc1",
    "c1cn{}nc1",
    "C1CCC{}CC1",
    "N1CCC{}CC1",
    "N1CCOCC1",
    "N1CCN{}CC1",
    "C1CC1",
    "c1ccc2ccccc2c1",
)
SUBSTITUENTS = ("", "(C)", "(F)", "(Cl)", "(O)", "(OC)", "(N)", "(C#N)", "(C(F)(F)F)", "(C(=O)O)", "(CC)")
CAPS = ("C", "CC", "CCC", "CC(C)", "O", "OC", "N", "NC", "CN(C)", "CC(=O)", "OCC", "NC(=O)", "CS(=O)(=O)")
LINKERS = ("", "C", "CC", "O", "N", "C(=O)N", "NC(=O)", "C(=O)", "OC", "S(=O)(=O)N")


# Bonds that real molecules rarely have but blind enumeration makes: N-N, N-O, O-O, N/O-halogen, N-CN.
_IMPLAUSIBLE = Chem.MolFromSmarts("[#7,#8]-[#7,#8,F,Cl,Br,I,$([CX2]#N)]")


def _ring(rng: np.random.Generator) -> str:
    ring = RINGS[rng.integers(len(RINGS))]
    return ring.format(SUBSTITUENTS[rng.integers(len(SUBSTITUENTS))])


def _candidate(rng: np.random.Generator) -> str:
    if rng.random() < 0.35:
        return CAPS[rng.integers(len(CAPS))] + _ring(rng)
    return _ring(rng) + LINKERS[rng.integers(len(LINKERS))] + _ring(rng)


def demo_molecules(n: int = N_MOLECULES, seed: int = SEED) -> list[str]:
    """``n`` distinct canonical SMILES of small enumerated molecules (see the module docstring)."""
    rng = np.random.default_rng(seed)
    found: dict[str, None] = {}
    for _ in range(200 * n):
        mol = parse_smiles(_candidate(rng))
        if mol is not None and mol.GetNumHeavyAtoms() <= 24 and not mol.HasSubstructMatch(_IMPLAUSIBLE):
            found.setdefault(Chem.MolToSmiles(mol), None)
            if len(found) == n:
                return list(found)
    raise RuntimeError(f"only {len(found)} distinct demo molecules could be enumerated, wanted {n}")


def _descriptors(smiles: list[str]) -> dict[str, np.ndarray]:
    mols = [parse_smiles(s) for s in smiles]
    columns = {
        "logp": [Crippen.MolLogP(m) for m in mols],
        "tpsa": [rdMolDescriptors.CalcTPSA(m) for m in mols],
        "hbd": [Lipinski.NumHDonors(m) for m in mols],
        "aromatic": [rdMolDescriptors.CalcNumAromaticRings(m) for m in mols],
        "fsp3": [rdMolDescriptors.CalcFractionCSP3(m) for m in mols],
        "mw": [Descriptors.MolWt(m) / 100.0 for m in mols],
    }
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()}


def _clean_targets(d: dict[str, np.ndarray], species_offset: np.ndarray) -> np.ndarray:
    """Noise-free targets, one column per task, before experiment offsets."""
    return np.column_stack(
        [
            0.8 * d["logp"] - 0.005 * d["tpsa"] + 0.3,
            -0.7 * d["logp"] - 0.3 * d["aromatic"] + 0.8 * d["fsp3"] - 0.2 * d["mw"] + 1.0,
            1.0 + 0.3 * d["logp"] + 0.2 * d["aromatic"] - 0.004 * d["tpsa"] + species_offset,
            1.2 - 0.012 * d["tpsa"] - 0.15 * d["hbd"] + 0.1 * d["logp"],
            0.4 * d["logp"] + 0.3 * d["aromatic"] - 0.3 * d["fsp3"] - 0.5,
        ]
    )


def _choose(rng: np.random.Generator, options: tuple[tuple[str, float, float], ...], n: int) -> np.ndarray:
    weights = np.array([option[1] for option in options])
    return rng.choice(len(options), size=n, p=weights / weights.sum())


def build_demo() -> pd.DataFrame:
    """The demo table: ``smiles``, the five targets, ``experiment``, ``condition``, ``quality``,
    ``compound`` (``demo:<n>``); values rounded to 4 decimals."""
    rng = np.random.default_rng(SEED + 1)
    smiles = demo_molecules()
    molecule = np.arange(len(smiles))
    extra = molecule[rng.random(len(smiles)) < SECOND_CONDITION_RATE]
    molecule = np.sort(np.concatenate([molecule, extra]), kind="stable")
    n = len(molecule)
    condition = _choose(rng, CONDITIONS, n)
    second = np.r_[False, molecule[1:] == molecule[:-1]]
    condition[second] = 1 - condition[np.flatnonzero(second) - 1]
    experiment = _choose(rng, EXPERIMENTS, n)
    quality = _choose(rng, QUALITIES, n)
    descriptors = {name: values[molecule] for name, values in _descriptors(smiles).items()}
    species_offset = np.array([c[2] for c in CONDITIONS])[condition]
    targets = _clean_targets(descriptors, species_offset)
    targets += np.array([e[2] for e in EXPERIMENTS])[experiment][:, None]
    targets += rng.normal(size=targets.shape) * np.array([q[2] for q in QUALITIES])[quality][:, None]
    labelled = rng.random(targets.shape) < np.array(LABEL_RATES)
    labelled[~labelled.any(axis=1), 0] = True
    frame = pd.DataFrame(np.where(labelled, np.round(targets, 4), np.nan), columns=list(TARGETS))
    frame.insert(0, "smiles", np.array(smiles, dtype=object)[molecule])
    frame["experiment"] = np.array([e[0] for e in EXPERIMENTS])[experiment]
    frame["condition"] = np.array([c[0] for c in CONDITIONS])[condition]
    frame["quality"] = np.array([q[0] for q in QUALITIES])[quality]
    frame["compound"] = [f"demo:{m}" for m in molecule]
    return frame
