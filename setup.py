"""Ships the top-level ``mappings/`` and ``pipelines/`` templates inside the wheel (as
``mr_opensearch/_templates/``), so an installed mros can deploy without a source checkout. Everything
else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the templates from the checkout
        for kind in ("mappings", "pipelines"):
            target = Path(self.build_lib) / "mr_opensearch" / "_templates" / kind
            target.mkdir(parents=True, exist_ok=True)
            for source in sorted(Path(kind).glob("*.json")):
                shutil.copyfile(source, target / source.name)


setup(cmdclass={"build_py": BuildWithTemplates})
