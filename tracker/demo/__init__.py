"""The demo: a simulated syndication network on this machine and the sample archive made from it. Not the product."""
