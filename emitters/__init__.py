"""Emitters: one lowering per output family (model -> IR), the printer (IR -> text) and the
file manager (text -> disk). Passes run between lowering and printing."""
