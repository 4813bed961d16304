"""Clusters of protein–ligand complexes for splits that keep related complexes on one side.

* ``scaffold``: the Bemis–Murcko scaffold of the ligand (RDKit ``MurckoScaffold``, canonical
  SMILES) read from ``<code>_ligand.sdf`` (else ``.mol2``) in the complex's folder. Acyclic
  ligands share the empty scaffold (one cluster); a ligand RDKit cannot read is its own cluster.
* ``protein``: single-linkage clusters of the protein chains' sequences (``<code>_protein.pdb``,
  else ``_pocket.pdb``, read with gemmi; chains of at least :data:`MIN_CHAIN` residues). Two
  chains are linked when the Jaccard similarity of their sets of amino-acid 3-mers reaches the
  threshold; complexes sharing a linked chain are one cluster. Single linkage guarantees that no
  two chains of different clusters reach the threshold.

The 3-mer Jaccard similarity is an alignment-free stand-in for sequence identity (no pairwise
aligner is required). It is much lower than the identity for the same pair: with identity p
spread evenly along the chain it is about p³ / (2 − p³), so 0.1 ≈ 55 % identity, 0.3 ≈ 75 %,
0.5 ≈ 87 %; unrelated chains of 300 residues score about 0.02.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rhoml.molecule import Molecule

#: chains shorter than this (peptides, fragments) are not used for protein clusters
MIN_CHAIN = 20
K = 3


def ligand_scaffold(mol: Molecule) -> str | None:
    """Canonical SMILES of the Bemis–Murcko scaffold of a complex's ligand (``""`` for an
    acyclic ligand), or None when the ligand file is missing or RDKit cannot read it."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem.Scaffolds import MurckoScaffold

    folder = Path(mol.source or "")
    RDLogger.DisableLog("rdApp.*")
    try:
        for ext, reader in (("sdf", Chem.MolFromMolFile), ("mol2", Chem.MolFromMol2File)):
            path = folder / f"{mol.id}_ligand.{ext}"
            if not path.is_file():
                continue
            rd = reader(str(path))
            if rd is None:
                continue
            smiles = MurckoScaffold.MurckoScaffoldSmiles(
                mol=Chem.RemoveHs(rd), includeChirality=False
            )
            # a round trip through SMILES perceives aromaticity of files with aromatic bond
            # types on non-aromatic atoms, so that equal scaffolds get equal strings
            again = Chem.MolFromSmiles(smiles) if smiles else None
            return Chem.MolToSmiles(again) if again is not None else smiles
    finally:
        RDLogger.EnableLog("rdApp.*")
    return None


def scaffold_clusters(mols: list[Molecule]) -> tuple[list[str], dict]:
    """One cluster label per complex (its ligand's scaffold) and a description."""
    labels, unread = [], []
    for m in mols:
        s = ligand_scaffold(m)
        if s is None:
            unread.append(m.id)
            s = f"unread:{m.id}"
        labels.append(f"scaffold:{s}")
    info = {
        "method": "Bemis-Murcko scaffold of the ligand (RDKit), acyclic ligands share one",
        "n_clusters": len(set(labels)), "ligands_not_read": unread,
    }  # fmt: skip
    return labels, info


def _is_amino_acid(name: str) -> bool:
    import gemmi

    info = gemmi.find_tabulated_residue(name)
    return info is not None and info.is_amino_acid()


def chain_sequences(mol: Molecule) -> list[str]:
    """One-letter sequences of the amino-acid chains of a complex's protein (or pocket) file."""
    import gemmi

    folder = Path(mol.source or "")
    for name in (f"{mol.id}_protein.pdb", f"{mol.id}_pocket.pdb"):
        path = folder / name
        if path.is_file():
            st = gemmi.read_structure(str(path))
            out = []
            for chain in st[0]:
                names = [r.name for r in chain if _is_amino_acid(r.name)]
                if len(names) >= MIN_CHAIN:
                    out.append(gemmi.one_letter_code(names))
            return out
    return []


def kmer_jaccard(sequences: list[str], k: int = K) -> np.ndarray:
    """(S, S) Jaccard similarities of the sets of ``k``-mers of ``sequences``."""
    from scipy import sparse

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sequences):
        for kmer in {s[j : j + k] for j in range(len(s) - k + 1)}:
            rows.append(i)
            cols.append(vocab.setdefault(kmer, len(vocab)))
    a = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(sequences), max(len(vocab), 1))
    )
    inter = (a @ a.T).toarray()
    n = np.asarray(a.sum(1)).ravel()
    union = n[:, None] + n[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def protein_clusters(mols: list[Molecule], threshold: float = 0.1) -> tuple[list[str], dict]:
    """One cluster label per complex (single linkage on 3-mer Jaccard ≥ ``threshold`` of the
    protein chains) and a description."""
    chains = [chain_sequences(m) for m in mols]
    unique = sorted({s for cs in chains for s in cs})
    parent = list(range(len(mols) + len(unique)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    pos = {s: len(mols) + u for u, s in enumerate(unique)}
    for i, cs in enumerate(chains):  # a complex links its own chains
        for s in cs:
            union(i, pos[s])
    if unique:
        sim = kmer_jaccard(unique)
        for a, b in zip(*np.nonzero(np.triu(sim >= threshold, 1)), strict=True):
            union(len(mols) + int(a), len(mols) + int(b))
    labels = [f"protein:{find(i)}" for i in range(len(mols))]
    info = {
        "method": f"single linkage, {K}-mer Jaccard >= {threshold} of protein chains "
        f"(>= {MIN_CHAIN} residues)",
        "threshold": threshold, "n_clusters": len(set(labels)),
        "complexes_without_chains": [m.id for m, cs in zip(mols, chains, strict=True) if not cs],
    }  # fmt: skip
    return labels, info


def clusters(mols: list[Molecule], split: str, threshold: float = 0.1) -> tuple[list[str], dict]:
    """Cluster labels for ``split`` ``"scaffold"`` or ``"protein"`` (see the module doc)."""
    if split == "scaffold":
        return scaffold_clusters(mols)
    if split == "protein":
        return protein_clusters(mols, threshold)
    from rhoml.errors import RhomlError

    raise RhomlError(f"split must be 'random', 'scaffold' or 'protein', got {split!r}")
