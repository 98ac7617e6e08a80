"""The anatomically constrained skeleton model (ACM, Monsees et al. 2022): pure algorithms, no schema.

`definitions` (skeletons as data), `kinematics` (forward kinematics and camera projection in JAX), `ukf`
(unscented RTS smoother with EM), `anatomy` (bone lengths and marker offsets from labelled frames) and `regimes`
(the full model and the study's ablations). JAX is imported by the modules that need it, not by this package.
"""
