"""machete_ir: the typed model of what machete-gen generates, and the C++ IR it lowers to.

Layers point one way (tests/test_layers.py checks the imports): model (model.py, expr.py,
nodes.py; no C++ spelling) <- names (names.py: C++ symbols) and the C++ mapping (cpp_contract.py)
<- builders (builders.py) <- passes (../passes) and emitters (../emitters), which import neither
each other <- the driver (../machete_gen_pipeline.py).
"""
