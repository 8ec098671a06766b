"""Packaging for the insurance data pipeline and its desktop app."""
from setuptools import find_packages, setup

setup(
    name="insurance-pipeline",
    version="0.1.0",
    description="Insurance data pipeline: Parquet -> PostgreSQL warehouse with Luigi, Cerberus healing and a desktop app",
    python_requires=">=3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "gui", "gui.*"]),
    package_data={"pipeline": ["sql/analytics/*.sql", "sql/schema/*.sql", "report/*.html", "report/*.css"]},
    install_requires=[
        "luigi>=3.5,<4",
        "sqlalchemy>=2.0,<3",
        "psycopg2-binary>=2.9.9,<3",
        "pandas>=2.2,<4",
        "pyarrow>=16,<27",
        "pgpq>=0.12,<0.13",  # Arrow record batches as PostgreSQL binary COPY
        "numpy>=1.26,<3",
        "cerberus>=1.3.5,<2",
        "pyyaml>=6,<7",  # the data contracts
        "email-validator>=2.1,<3",  # e-mail addresses, without network checks
        "pgserver>=0.1.4,<0.2",
        "psutil>=5.9,<8",  # the embedded server's processes (pgserver needs it too)
    ],
    extras_require={
        "gui": ["PySide6-Essentials>=6.7,<7", "pyqtgraph>=0.13.7,<0.15"],
        "test": [
            "pytest>=8,<10",
            "hypothesis>=6.100,<7",
            "pytest-qt>=4.4,<5",
            "pytest-timeout>=2.3,<3",
            "PySide6-Essentials>=6.7,<7",
            "pyqtgraph>=0.13.7,<0.15",
            "pyyaml>=6,<7",
        ],
    },
    entry_points={"console_scripts": ["insurance-pipeline=pipeline.cli.main:main", "insurance-app=gui.app:main"]},
)
