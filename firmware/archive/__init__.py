"""Sealing: the sealer (a reviewed document to its signed PDF/A, sidecar and route), the
archival PDF/A-2b, its image layer, XMP, the glyphless font, PAdES signing and the
device's signing identity."""
