"""Installable package of the UniSegDiff pipeline (console scripts are the four commands plus helpers)."""
from setuptools import find_packages, setup

setup(
    name="unisegdiff-pipeline",
    version="0.1.0",
    description="nnU-Net-style self-configuring pipeline for UniSegDiff staged diffusion lesion segmentation",
    python_requires=">=3.10",
    packages=find_packages(include=["unisegdiff_pipeline*", "dataset_conversion*", "planning*"]),
    install_requires=[
        # 2.13.0 is what the setup script installs when torch is missing; newer 2.x works too.
        "torch>=2.4,<3",
        "numpy>=1.24",
        "scipy>=1.10",
        "pandas>=2.0",
        "SimpleITK>=2.2",
        "batchgenerators>=0.25",
        "batchgeneratorsv2>=0.2",
        "acvl-utils>=0.2",
        "h5py>=3.8",
        "Pillow>=9.5",
        "matplotlib>=3.7",
        "tqdm>=4.64",
    ],
    extras_require={"test": ["pytest>=7.4"]},
    entry_points={
        "console_scripts": [
            "usd_convert_dataset=dataset_conversion.cli:main",
            "usd_plan_and_preprocess=planning.cli:main",
            "usd_train=unisegdiff_pipeline.training.run:main",
            "usd_predict=unisegdiff_pipeline.inference.predict:main",
            "usd_evaluate=unisegdiff_pipeline.evaluation.cli:main",
            "usd_export_model=unisegdiff_pipeline.sharing:export_main",
            "usd_find_best_configuration=unisegdiff_pipeline.inference.find_best_cli:main",
            "usd_install_model=unisegdiff_pipeline.sharing:install_main",
            "usd_demo=unisegdiff_pipeline.demo:main",
        ],
    },
)
