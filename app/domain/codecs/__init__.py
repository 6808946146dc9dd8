"""Codecs behind one interface: 8-bit RGB in, a same-size reconstruction and its bits out."""
