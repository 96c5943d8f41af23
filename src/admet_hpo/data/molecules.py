"""RDKit helpers on SMILES strings: parseability, molecule identity and Bemis-Murcko scaffolds.

Results are memoised per SMILES string for the life of the process, so a worker that loads and splits the
same table for many trials parses each molecule once. RDKit's own error log is silenced here: a bad
SMILES is reported by the data layer with its row, not as a line of RDKit noise.
"""

from __future__ import annotations

from functools import cache

from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.rdBase import BlockLogs


def parse_smiles(smiles: str) -> Chem.Mol | None:
    """The RDKit molecule of ``smiles``, or ``None`` when it does not parse or has no atoms."""
    block = BlockLogs()
    try:
        mol = Chem.MolFromSmiles(smiles)
    finally:
        del block
    if mol is None or mol.GetNumAtoms() == 0:
        return None
    return mol


@cache
def smiles_error(smiles: str) -> str | None:
    """Why ``smiles`` cannot be used as a molecule (``None`` when it parses)."""
    if not smiles:
        return "empty SMILES"
    if parse_smiles(smiles) is None:
        return "RDKit cannot parse this SMILES"
    return None


@cache
def molecule_identity(smiles: str) -> tuple[str, str]:
    """(molecule key, Murcko scaffold) from one parse; see :func:`molecule_key`, :func:`murcko_scaffold`.
    For a whole table, :func:`admet_hpo.data.identity_cache.molecule_identities` reads them from the
    product cache."""
    mol = parse_smiles(smiles)
    if mol is None:
        return f"unparsed:{smiles}", ""
    block = BlockLogs()
    try:
        key = Chem.MolToInchiKey(mol)
    finally:
        del block
    scaffold = MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)
    return key or f"smiles:{Chem.MolToSmiles(mol)}", scaffold


def molecule_key(smiles: str) -> str:
    """A molecule's identity: its InChIKey (tautomers and different SMILES spellings agree), falling back
    to RDKit's canonical SMILES when no InChIKey can be made, or the string itself when it does not parse."""
    return molecule_identity(smiles)[0]


def murcko_scaffold(smiles: str) -> str:
    """The Bemis-Murcko scaffold SMILES (no stereo); ``""`` for acyclic or unparsable molecules."""
    return molecule_identity(smiles)[1]
