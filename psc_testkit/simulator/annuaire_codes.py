"""What the synthetic Annuaire Santé draws from: real nomenclature codes (fact sheet §4.5), with
the weights of a plausible population. Validation uses the full nomenclatures, not these lists."""

# OIDs carried in claims (fact sheet §3.1, §4.5).
OID_SUBJECT_ROLE = "1.2.250.1.213.1.1.5.5"  # JDV_J65 SubjectRole-DMP
OID_SECTEUR_ACTIVITE = "1.2.250.1.71.4.2.4"  # TRE_R02 SecteurActivite
PALIER_AUTHENTIFICATION = "APPPRIP3^1.2.250.1.213.1.5.1.1.1"
PSI_LOCALE = "1.2.250.1.213.1.3.1.1"

# TRE_G15 profession → (weight, identifier kind, registering authority).
# Professions registered in RPPS get an idNat "8"+RPPS; the others "0"+ADELI.
PROFESSIONS: dict[str, tuple[int, str, str]] = {
    "10": (30, "RPPS", "CNOM"),  # Médecin
    "60": (22, "RPPS", "ONI"),  # Infirmier
    "21": (10, "RPPS", "CNOP"),  # Pharmacien
    "70": (10, "RPPS", "CNOMK"),  # Masseur-Kinésithérapeute
    "40": (6, "RPPS", "CNOCD"),  # Chirurgien-Dentiste
    "50": (4, "RPPS", "CNOSF"),  # Sage-Femme
    "91": (4, "RPPS", "ARS"),  # Orthophoniste
    "80": (3, "RPPS", "CNOPP"),  # Pédicure-Podologue
    "92": (2, "RPPS", "ARS"),  # Orthoptiste
    "28": (2, "ADELI", "ARS"),  # Opticien-Lunetier
    "26": (1, "ADELI", "ARS"),  # Audioprothésiste
    "86": (2, "ADELI", "ARS"),  # Technicien de laboratoire médical
    "95": (1, "ADELI", "ARS"),  # Diététicien
    "96": (1, "ADELI", "ARS"),  # Psychomotricien
    "98": (1, "ADELI", "ARS"),  # Manipulateur ERM
    "94": (1, "ADELI", "ARS"),  # Ergothérapeute
}

# codeTypeSavoirFaire "S" (spécialité ordinale) and codeSavoirFaire per profession.
SAVOIR_FAIRE: dict[str, list[str]] = {
    "10": ["SM54", "SM54", "SM54", "SM26", "SM53", "SM04", "SM42", "SM02", "SM03", "SM01"],
    "40": ["SCD03", "SCD03", "SCD01", "SCD02"],
}

# TRE_R21 Fonction codes per situation.
ROLE_TITULAIRE_CABINET = "FON-01"
ROLE_TITULAIRE_OFFICINE = "FON-03"
ROLE_ADJOINT = "FON-05"

# Real communes: (codePostal, codeCommune INSEE, codeDepartement, bureau distributeur).
COMMUNES = [
    ("75009", "75109", "75", "PARIS"),
    ("75014", "75114", "75", "PARIS"),
    ("69003", "69383", "69", "LYON"),
    ("13001", "13201", "13", "MARSEILLE"),
    ("31000", "31555", "31", "TOULOUSE"),
    ("33000", "33063", "33", "BORDEAUX"),
    ("59000", "59350", "59", "LILLE"),
    ("44000", "44109", "44", "NANTES"),
    ("67000", "67482", "67", "STRASBOURG"),
    ("35000", "35238", "35", "RENNES"),
    ("06000", "06088", "06", "NICE"),
    ("34000", "34172", "34", "MONTPELLIER"),
    ("38000", "38185", "38", "GRENOBLE"),
    ("21000", "21231", "21", "DIJON"),
    ("29200", "29019", "29", "BREST"),
    ("87000", "87085", "87", "LIMOGES"),
]

# Street types seen in samples ("R", "QUAI") and common ones [inferred].
STREET_TYPES = ["R", "R", "AV", "BD", "PL", "QUAI", "ALL"]
STREET_NAMES = [
    "DES LILAS",
    "VICTOR HUGO",
    "DE LA REPUBLIQUE",
    "JEAN JAURES",
    "PASTEUR",
    "DES CELESTINS",
    "DU GENERAL LECLERC",
    "GAMBETTA",
    "DE LA GARE",
    "DES ECOLES",
    "FOCH",
    "SAINT MICHEL",
]
HOSPITALS = [
    "CENTRE HOSPITALIER UNIVERSITAIRE",
    "CENTRE HOSPITALIER",
    "HOPITAL LOCAL",
    "CENTRE HOSPITALIER REGIONAL",
    "GROUPE HOSPITALIER",
]

GIVEN_NAMES = [
    "CLAIRE",
    "PAUL",
    "MARIE",
    "JEAN",
    "SOPHIE",
    "PIERRE",
    "JULIE",
    "NICOLAS",
    "CAMILLE",
    "THOMAS",
    "LEA",
    "ANTOINE",
    "EMMA",
    "LUCAS",
    "CHLOE",
    "HUGO",
    "SARAH",
    "LOUIS",
    "MANON",
    "ARTHUR",
    "INES",
    "JULES",
    "ANNE",
    "MARC",
    "ELISE",
    "YANN",
    "NADIA",
    "KARIM",
    "AMELIE",
    "BRUNO",
]
FAMILY_NAMES = [
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "THOMAS",
    "ROBERT",
    "RICHARD",
    "PETIT",
    "DURAND",
    "LEROY",
    "MOREAU",
    "SIMON",
    "LAURENT",
    "LEFEBVRE",
    "MICHEL",
    "GARCIA",
    "DAVID",
    "BERTRAND",
    "ROUX",
    "VINCENT",
    "FOURNIER",
    "MOREL",
    "GIRARD",
    "ANDRE",
    "MERCIER",
    "DUPONT",
    "LAMBERT",
    "BONNET",
    "FRANCOIS",
    "MARTINEZ",
    "LEGRAND",
    "GARNIER",
    "FAURE",
    "ROUSSEAU",
    "BLANC",
    "GUERIN",
    "MULLER",
]
FEMININE_GIVEN = {
    "CLAIRE",
    "MARIE",
    "SOPHIE",
    "JULIE",
    "CAMILLE",
    "LEA",
    "EMMA",
    "CHLOE",
    "SARAH",
    "MANON",
    "INES",
    "ANNE",
    "ELISE",
    "NADIA",
    "AMELIE",
}
