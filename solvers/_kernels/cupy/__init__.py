"""CuPy kernel sources (GPU); imported only when the cupy backend is used."""
