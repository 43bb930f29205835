"""The model core: the specification (:mod:`.spec`), the profiled deviance written once
(:mod:`.deviance`), the workspace protocol every engine implements and the choice among engines
(:mod:`.workspace`)."""
