"""Reading run folders for people: figures of a run and the comparison of several."""
