// qstrs used by the pybsim runtime that the extractor cannot see
// *FORMAT-OFF*
Q(/flash)
Q(/flash/lib)
Q(/sd)
Q(/sd/lib)
