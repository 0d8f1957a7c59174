"""``python -m hr_api``: the same as ``hr-api``."""

from hr_api.serve import main

main()
