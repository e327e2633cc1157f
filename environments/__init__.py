"""Environment files shipped with the suite: the sandbox and the documented production example."""
