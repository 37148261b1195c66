def minres(*a, **k):
    raise NotImplementedError
