"""Reply classification, split by concern: ``core.classify`` and the rules it reads with.

``nurture_ui.classifier`` is the importable facade (``classify``, ``Classification``, ``own_words``,
``read_return_date``, ``SENTIMENTS``).
"""
