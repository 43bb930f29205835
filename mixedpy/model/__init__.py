"""The model core: the specification (:mod:`.spec`), the workspace protocol every engine implements
(:mod:`.protocol`) and the choice among engines (:mod:`.workspace`).  The profiled deviance, written
once for every engine, is :mod:`mixedpy.deviance`; the orchestrator is :mod:`mixedpy.fitting`."""
