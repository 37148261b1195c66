"""Write problems/nlp/data/breast_cancer.csv (package data) from the copy of the UCI data set that scikit-learn ships.

Run from the repository root: ``python data/breast_cancer_make.py``. The feature
values are copied as text, unchanged (no standardisation); the label column
``benign`` is scikit-learn's target (0 = malignant, 1 = benign). See
data/README.md for provenance and licence.
"""
import csv
import hashlib
import pathlib

from sklearn.datasets import load_breast_cancer
import sklearn.datasets

SRC = pathlib.Path(sklearn.datasets.__file__).parent / "data" / "breast_cancer.csv"
DST = pathlib.Path(__file__).resolve().parents[1] / "problems" / "nlp" / "data" / "breast_cancer.csv"


def main() -> None:
    names = [n.replace(" ", "_") for n in load_breast_cancer().feature_names]
    with open(SRC, newline="") as fh:
        rows = list(csv.reader(fh))
    n_samples, n_features = int(rows[0][0]), int(rows[0][1])
    body = rows[1:]
    assert len(body) == n_samples == 569 and all(len(r) == n_features + 1 == 31 for r in body)
    with open(DST, "w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(names + ["benign"])
        out.writerows(body)
    print(DST, hashlib.sha256(DST.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
