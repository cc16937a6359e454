"""Imaging features: brain (fMRIPrep / XCP-D derivatives) and, later, spine.

Modules of the brain modality, one concept each:

``templates``     the MNI152NLin2009cAsym grid and nilearn's offline templates
``atlas``         label and coordinate atlases (Seitzman 2018 offline default)
``parcellate``    the one-pass parcellation kernel (equal to nilearn's maskers)
``inputs``        reading and checking one fMRIPrep run's files
``denoise``       nilearn fMRIPrep confound strategies and signal cleaning
``connectivity``  correlation, partial correlation, Fisher z, network summaries
``tangent``       tangent-space connectivity (scikit-learn transformer)
``alff``          ALFF / fALFF
``structural``    grey-matter volumes, FreeSurfer stats readers
``qc``            run QC measures and exclusion rules
``features``      feature names and codebook rows
``store``         per-run connectome files for cross-participant models
``xcpd``          XCP-D outputs as input
``brain``         ``extract_run`` for notebooks and ``EXTRACTOR`` for the cohort runner
``settings``      pydantic settings with documented, cited defaults
"""
