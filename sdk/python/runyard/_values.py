"""Checking and converting what a script passes to Run's methods."""


def check_image_args(name, path, plot):
    """log_image takes exactly one of path= and plot=."""
    if (path is None) == (plot is None):
        raise ValueError("log_image %r: give exactly one of path= (an image file) or plot= "
                         "(a matplotlib figure), not %s" %
                         (name, "both" if path is not None else "neither"))
    if plot is not None and not hasattr(plot, "savefig"):
        raise TypeError("log_image %r: plot must be a matplotlib figure or pyplot (something "
                        "with savefig), not %s" % (name, type(plot).__name__))


def as_list(value, what):
    """A list of the values of a list-like `value` (numpy arrays included)."""
    if isinstance(value, (str, bytes, dict)):
        raise TypeError("%s must be a list of values, not %s" % (what, type(value).__name__))
    tolist = getattr(value, "tolist", None)  # numpy arrays: plain Python values at C speed
    if tolist is not None:
        value = tolist()
    try:
        return list(value)
    except TypeError:
        raise TypeError("%s must be a list of values, not %s" %
                        (what, type(value).__name__)) from None


def text_value(value):
    return "" if value is None else str(value)


def tag_map(tags):
    """Tags as {key: text}: from a dict, a single key, or an iterable of keys."""
    if isinstance(tags, dict):
        return {key: text_value(value) for key, value in tags.items()}
    if isinstance(tags, str):
        return {tags: ""}
    try:
        return {key: "" for key in tags}
    except TypeError:
        raise TypeError("tags must be a dict or a list of keys, not %s" %
                        type(tags).__name__) from None


def metric_shape(series):
    """get_metrics' shape of a local series [kind, values...] (Azure's shape)."""
    kind, values = series[0], series[1:]
    if kind == "row":
        table = {}
        for row in values:
            for key, value in row.items():
                table.setdefault(key, []).append(value)
        return table
    if kind == "table":
        table = {}
        for part in values:
            for key, column in part.items():
                table.setdefault(key, []).extend(column)
        return table
    if len(values) == 1 and kind != "list":
        return values[0]
    return values
