"""k-means over feature vectors (faiss and torch backends, torchrun-ready) and exact assignment."""

from tokkit.clustering.assign import assign
from tokkit.clustering.kmeans import KMeansResult, kmeans, kmeans_plus_plus

__all__ = ["KMeansResult", "assign", "kmeans", "kmeans_plus_plus"]
