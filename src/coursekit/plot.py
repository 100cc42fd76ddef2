"""Figures the chapters and labs share: image grids, filter and feature-map
mosaics, heatmap overlays and training curves. Matplotlib only."""
