"""machete_ir: the typed model of what machete-gen generates, and the C++ IR it lowers to.

Layers point one way: model (model.py, expr.py, names.py) -> builders (builders.py, targeting
the C++ contract in cpp_contract.py) -> passes (../passes) -> printer (../emitters).
"""
