"""Published codec weights fetched into the weights folder (`miscomp codecs fetch`, the codecs
page)."""
