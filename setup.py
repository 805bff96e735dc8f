from setuptools import find_packages, setup

setup(
    name="jsymnet",
    version="0.1.0",
    description="Deep Symmetric Network for underexposed image enhancement (ICCV 2021), in Jittor",
    long_description=open("README.md").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["jsymnet", "jsymnet.*"]),
    python_requires=">=3.9",
    install_requires=[
        "jittor>=1.3.9",
        "numpy<2",  # Jittor 1.3 is built against the NumPy 1 ABI
        "pillow",
        "opencv-python-headless",
        "scikit-image",
        "pyyaml",
        "tqdm",
    ],
    extras_require={
        "test": ["pytest"],
        "torch": ["torch"],
    },
)
