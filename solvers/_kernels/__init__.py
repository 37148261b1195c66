"""Hot kernels, one module per family and backend. They import nothing from the package."""
