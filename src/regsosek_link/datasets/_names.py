"""Word lists for the synthetic generator: names, titles, spelling variants, streets.

Every list is ordered from most to least frequent; the generator draws from it with a
Zipf-like weight (see :func:`zipf_weights`), so the first entries are very common (SITI,
MUHAMMAD, SRI, ...) and the tail is rare. The lists are hand-made to look plausible; they are
not counts from any register.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------------------
# Javanese
# --------------------------------------------------------------------------------------
#: Birth-order / very common leading tokens used by Javanese men.
JAWA_PREFIX_M: tuple[str, ...] = ("EKO", "DWI", "TRI", "BUDI", "AGUS", "RAHMAT", "BAMBANG")
#: Same for women.
JAWA_PREFIX_F: tuple[str, ...] = ("SRI", "DWI", "TRI", "NUR", "SITI", "ENDANG", "RETNO")

#: Javanese male given names (also used as mononyms by older people).
JAWA_M: tuple[str, ...] = (
    "SUTRISNO", "SUPARMAN", "SUGIYANTO", "SUYANTO", "PRASETYO", "WAHYUDI", "SUSILO",
    "JOKO", "SUGENG", "SLAMET", "PURNOMO", "HARYANTO", "SETIAWAN", "SANTOSO", "WIDODO",
    "SUPRIYADI", "SUHARTO", "MULYONO", "PARJO", "SAMINO", "KARNO", "TUKIMAN", "SUKIRNO",
    "SUMARNO", "SUPRAPTO", "HARTONO", "BASUKI", "CAHYO", "NUGROHO", "KUSWANTO", "TEGUH",
    "ARIF", "HADI", "SISWANTO", "SUWARNO", "TARNO", "WARSITO", "YULIANTO", "DARMANTO",
    "SUKARDI", "RIYADI", "SUROSO", "WINARNO", "KUSNADI", "PAIMIN", "SARIMIN", "TUGIMAN",
    "WAGIMAN", "SUPANGAT", "PRIYONO", "SUGIHARTO", "TRIYONO", "JUMADI", "GUNAWAN",
    "HERU", "ANTO", "YANTO", "YUSUF", "SUYONO", "SUPENO", "KASIMAN", "MARYONO",
    "SARWONO", "SUDARSONO", "TAUFIK", "BUDIONO", "SUHADI", "SUJARWO", "WIYONO",
)
#: Javanese female given names.
JAWA_F: tuple[str, ...] = (
    "SUMARNI", "SULASTRI", "SUPARTI", "SRIYATUN", "WAHYUNI", "RAHAYU", "LESTARI",
    "SUGIYEM", "PAINEM", "TUMINAH", "SUKINAH", "SUWARNI", "MUJIYEM", "SARINAH", "KASMINI",
    "YULIANI", "WIDYASTUTI", "HANDAYANI", "SETYAWATI", "PURWANTI", "SUPRIYATI", "MARYATI",
    "SUNARSIH", "SUTINAH", "KATMI", "SAMINAH", "WAGIYEM", "PONIYEM", "SUYATMI", "RUSMINI",
    "TUMIYEM", "SUKARMI", "KASIYAH", "NGATIYEM", "SUMIATI", "WINARTI", "ENDANG", "NINGSIH",
    "KURNIASIH", "SUGIARTI", "WARSINAH", "DARMI", "SUTARMI", "TRIYANI", "SITI", "YATMI",
    "JUMINAH", "SUKESI", "SRI", "PARTINAH", "SUMIYATI", "MARSINAH", "TURYATI", "ASIH",
)

# --------------------------------------------------------------------------------------
# Muslim / Arabic (used across Indonesia)
# --------------------------------------------------------------------------------------
ISLAM_PREFIX_M: tuple[str, ...] = ("MUHAMMAD", "AHMAD", "ABDUL", "NUR", "MOCHAMAD", "KHOIRUL")
ISLAM_PREFIX_F: tuple[str, ...] = ("SITI", "NUR", "NURUL", "SITI NUR", "DEWI")
ISLAM_M: tuple[str, ...] = (
    "RIZKI", "FAUZI", "HIDAYAT", "RAHMAN", "YUSUF", "ILHAM", "HASAN", "HUSEIN", "ALI",
    "IBRAHIM", "ISMAIL", "SYAIFUL", "ARIFIN", "FAJAR", "HAMID", "ROSYID", "ZAINAL",
    "ANWAR", "SYAHRUL", "FIRMANSYAH", "HIDAYATULLAH", "KHOLIQ", "SAIFUDIN", "MUSTOFA",
    "SOLEH", "UMAR", "USMAN", "ZAKARIA", "HAFIZ", "AZIZ", "FAHMI", "HABIBI", "IRFAN",
    "JAMALUDIN", "KHOIRUDIN", "LUTFI", "MANSUR", "NASRUL", "QODIR", "RAFI", "SYAFII",
    "TAUFIQ", "WAHID", "YAHYA", "ZULKIFLI", "ROHMAN", "MAKRUF", "SHOLIHIN", "NAJIB",
)
ISLAM_F: tuple[str, ...] = (
    "AISYAH", "FATIMAH", "KHADIJAH", "AMINAH", "ZAHRA", "NURHAYATI", "MAEMUNAH",
    "ROHMAH", "HALIMAH", "SALMA", "ZULAIKHA", "MASITOH", "JUBAEDAH", "MUNAWAROH",
    "NURJANAH", "ROBIAH", "SALAMAH", "SUMAYAH", "UMI", "ZAINAB", "HASANAH", "KHOIRIYAH",
    "LAILATUL", "MAFTUHAH", "NAFISAH", "QOMARIAH", "RUKAYAH", "SAODAH", "WARDAH",
    "FITRIANI", "HIDAYAH", "RAHMAWATI", "MUSLIMAH", "AZIZAH", "LATIFAH", "MUTMAINAH",
)

# --------------------------------------------------------------------------------------
# Sundanese
# --------------------------------------------------------------------------------------
SUNDA_M: tuple[str, ...] = (
    "ASEP", "UJANG", "DEDE", "CECEP", "YAYAN", "DADANG", "ENDANG", "JAJANG", "OMAN",
    "AAN", "DEDEN", "ENCEP", "UDIN", "HENDRA", "ROHMAT", "KOSASIH", "SOBARI", "SUHENDAR",
    "SUNARYA", "SUPRIATNA", "MULYANA", "ADE", "WAWAN", "IWAN", "DIDI", "NANA", "EMAN",
    "AGUS", "KURNIAWAN", "RUSTANDI", "SUTISNA", "HERMAWAN", "RIDWAN", "ACENG",
)
SUNDA_F: tuple[str, ...] = (
    "ENENG", "IMAS", "EUIS", "NENG", "YAYAH", "CUCU", "ENTIN", "IIS", "NENI", "OOM",
    "TITIN", "YANTI", "DEDEH", "EEN", "ELIS", "ENOK", "ICIH", "LILIS", "NUNUNG", "ROHAETI",
    "SRI", "TATI", "UUM", "WIWIN", "YENI", "KOKOM", "NURHASANAH", "AI", "ANI", "EPON",
)
SUNDA_SUFFIX_M: tuple[str, ...] = (
    "SUPRIATNA", "HIDAYAT", "SAEPUDIN", "SOLIHIN", "SUHERMAN", "RUKMANA", "SETIADI",
    "KUSNADI", "RAHMAT", "SOMANTRI", "SAPUTRA", "GUNAWAN",
)
SUNDA_SUFFIX_F: tuple[str, ...] = (
    "MULYANI", "NURAENI", "RAHAYU", "KARTIKA", "SUMIATI", "KURNIASIH", "HERAWATI",
    "SUKAESIH", "WIDIANINGSIH", "NURHAYATI",
)

# --------------------------------------------------------------------------------------
# Balinese
# --------------------------------------------------------------------------------------
#: Birth-order names by order (0 = first child): each order has its alternatives.
BALI_ORDER: tuple[tuple[str, ...], ...] = (
    ("WAYAN", "PUTU", "GEDE"),
    ("MADE", "KADEK", "NENGAH"),
    ("NYOMAN", "KOMANG"),
    ("KETUT",),
)
BALI_M: tuple[str, ...] = (
    "SUDIARTA", "ARTAWAN", "SUARDANA", "WIRAWAN", "SUKADANA", "ADNYANA", "MERTAYASA",
    "SUPARTA", "ARSANA", "SUDARMA", "WIDIANA", "ASTAWA", "DARMAWAN", "SUWITRA", "YASA",
    "SUANDANA", "PUTRAYASA", "SUTAMA", "ARIAWAN", "SUJANA", "BUDIASA", "SANTIKA",
)
BALI_F: tuple[str, ...] = (
    "SURYANI", "SUARNI", "ARIASIH", "SUKARNI", "WIDIASTUTI", "SUDIANI", "ARTINI",
    "PURNAMI", "SRIASIH", "MARTINI", "SUWENDRI", "ASTITI", "DARMAYANTI", "KARIASIH",
    "SUASTINI", "YULIANTARI", "SUKERTI", "PUSPITA", "SEKAR", "MURTINI",
)

# --------------------------------------------------------------------------------------
# Batak
# --------------------------------------------------------------------------------------
BATAK_M: tuple[str, ...] = (
    "JOHANNES", "MARTIN", "RICARDO", "DANIEL", "JOSUA", "SAMUEL", "ROBERT", "HOTMAN",
    "PARLINDUNGAN", "TUMPAL", "BONAR", "MANGASI", "PANGIHUTAN", "DAVID", "FERDINAND",
    "HENDRIK", "JONI", "LAMHOT", "MARULI", "RUDI", "SAHAT", "TOGAR", "ANDREAS", "BENNY",
    "POLTAK", "ROY", "ERWIN", "HARAPAN", "MULAI", "PARULIAN",
)
BATAK_F: tuple[str, ...] = (
    "MARIA", "ROSMA", "LINDA", "MERI", "DEBORA", "ELISABETH", "FRIDA", "HOTNIDA",
    "LAMRIA", "MARTA", "NURSIAH", "ROSLINA", "SARTIKA", "TIOMINA", "YOHANA", "RINA",
    "DESI", "ERNA", "HERLINA", "LENNY", "MELVA", "RUTH", "SONDANG", "TETTI", "ROSDIANA",
)
BATAK_MARGA: tuple[str, ...] = (
    "SIREGAR", "NASUTION", "SIMANJUNTAK", "HUTAGALUNG", "SITUMORANG", "PANJAITAN",
    "SIMATUPANG", "SINAGA", "LUBIS", "HARAHAP", "SIAHAAN", "TAMBUNAN", "SITOMPUL",
    "SIMBOLON", "MANURUNG", "PARDEDE", "SIHOMBING", "PASARIBU", "HUTAPEA", "SILALAHI",
    "NAINGGOLAN", "SARAGIH", "DAMANIK", "GINTING", "SEMBIRING", "TARIGAN", "PURBA",
    "SITORUS", "MARPAUNG", "HUTABARAT", "NAPITUPULU", "SIANTURI", "RITONGA", "POHAN",
)

# --------------------------------------------------------------------------------------
# Modern names given to younger people of every background
# --------------------------------------------------------------------------------------
MODERN_M: tuple[str, ...] = (
    "RIZKY", "DIMAS", "ADITYA", "FARHAN", "RAFI", "BAYU", "DANI", "FIKRI", "GILANG",
    "ILHAM", "KEVIN", "RAKA", "REZA", "ANDIKA", "ARYA", "BIMA", "DAFFA", "FAJAR",
    "GALIH", "HAFIDZ", "ALIF", "AZKA", "NAUFAL", "RAIHAN", "YOGA", "ZAKY", "ARDIAN",
    "PRATAMA", "SAPUTRA", "RAMADHAN", "FEBRIAN", "NUGRAHA", "WIJAYA", "KURNIAWAN",
    "MAULANA", "FIRMANSYAH", "SETIAWAN", "HIDAYAT", "PERMANA", "ALFARIZI",
)
MODERN_F: tuple[str, ...] = (
    "PUTRI", "AYU", "DEWI", "NABILA", "AULIA", "SALSABILA", "ANISA", "NADIA", "FITRI",
    "INDAH", "RATNA", "DIAN", "MELATI", "CITRA", "ANGGUN", "KIRANA", "ZAHRA", "KEISHA",
    "NAYLA", "ALYA", "AZZAHRA", "CAHAYA", "INTAN", "MAYA", "TIARA", "WULAN", "LESTARI",
    "RAHMAWATI", "PERMATASARI", "KUSUMA", "WATI", "SARI", "FEBRIANTI", "RAMADHANI",
    "SAFITRI", "PRATIWI", "UTAMI", "ANGGRAINI", "NOVITASARI", "HANDAYANI",
)

# --------------------------------------------------------------------------------------
# Errors: titles, spelling variants
# --------------------------------------------------------------------------------------
TITLE_PREFIX_M: tuple[str, ...] = ("H.", "DRS.", "IR.", "DR.", "KH.", "R.", "RM.", "PROF.")
TITLE_PREFIX_F: tuple[str, ...] = ("HJ.", "DRA.", "IR.", "DR.", "RR.", "R.AJ.")
TITLE_SUFFIX: tuple[str, ...] = (
    "S.PD.", "S.E.", "S.H.", "S.AG.", "S.KOM.", "S.T.", "A.MD.", "M.PD.", "S.SOS.",
    "S.KEP.", "S.PD.I", "M.M.", "S.IP.",
)

#: Whole-token variants: canonical token -> alternatives seen in the field.
TOKEN_VARIANTS: dict[str, tuple[str, ...]] = {
    "MUHAMMAD": ("MOH.", "MOCH.", "MOHD.", "M.", "MUHAMAD", "MOHAMMAD", "MOCHAMAD",
                 "MOHAMAD", "MUCH.", "MUKHAMAD", "MOEHAMAD"),
    "MOCHAMAD": ("MOCH.", "MUHAMMAD", "MOHAMAD", "M."),
    "AHMAD": ("ACHMAD", "AKHMAD", "AHMAT"),
    "ABDUL": ("ABD.", "ABDOEL"),
    "SITI": ("ST.", "SITTI"),
    "NUR": ("NOOR", "NURUL"),
    "RAHMAT": ("RACHMAT", "ROHMAT"),
    "KHOIRUL": ("CHOIRUL", "KHAIRUL"),
    "YUSUF": ("JOESOEF", "YUSUP"),
    "RIZKI": ("RIZKY", "RISKI"),
    "RIZKY": ("RIZKI", "RISKY"),
    "FITRI": ("FITRIE",),
    "PUTRI": ("PUTRY", "PUTERI"),
    "NURHAYATI": ("NURHAJATI", "NUR HAYATI"),
}

#: Old (pre-1972 / pre-1947) spelling rules, applied left to right (EYD -> old).
OLD_SPELLING: tuple[tuple[str, str], ...] = (
    ("KH", "CH"),
    ("SY", "SJ"),
    ("NY", "NJ"),
    ("C", "TJ"),
    ("J", "DJ"),
    ("Y", "J"),
    ("U", "OE"),
)

# --------------------------------------------------------------------------------------
# Addresses and other free text
# --------------------------------------------------------------------------------------
STREETS: tuple[str, ...] = (
    "MERDEKA", "SUDIRMAN", "DIPONEGORO", "GATOT SUBROTO", "AHMAD YANI", "PAHLAWAN",
    "MAWAR", "MELATI", "KENANGA", "ANGGREK", "CEMPAKA", "DAHLIA", "FLAMBOYAN", "TERATAI",
    "KARTINI", "IMAM BONJOL", "PEMUDA", "PATTIMURA", "HASANUDDIN", "VETERAN", "SISINGAMANGARAJA",
    "MANGGA", "NANGKA", "DURIAN", "RAMBUTAN", "KELAPA", "PANDAN", "BERINGIN", "SEMERU",
    "MERAPI", "SINDORO", "RAYA", "PASAR", "STASIUN", "SEKOLAH", "MASJID", "KALI",
)
DUSUN: tuple[str, ...] = (
    "KRAJAN", "KIDUL", "LOR", "WETAN", "KULON", "TENGAH", "SUMBER", "KARANG", "SIDOREJO",
    "SUKAMAJU", "SUKARAJA", "MEKARSARI", "TANJUNG", "BANJAR", "TEGAL", "GUNUNG", "PUCANG",
)

#: Indonesian month names and their short forms, index 0 = January.
MONTHS_LONG: tuple[str, ...] = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
    "September", "Oktober", "November", "Desember",
)
MONTHS_SHORT: tuple[str, ...] = (
    "Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des",
)


def zipf_weights(n: int, *, exponent: float = 1.0, offset: float = 1.5) -> np.ndarray:
    """Normalised Zipf-like weights ``1 / (rank + offset) ** exponent`` for ``n`` items.

    Parameters
    ----------
    n : int
        Number of items.
    exponent : float, default 1.0
        Larger values make the head of the list more dominant.
    offset : float, default 1.5
        Flattens the very top of the distribution.

    Returns
    -------
    numpy.ndarray
        Float weights summing to one, decreasing with rank.

    Examples
    --------
    >>> w = zipf_weights(3)
    >>> bool(w[0] > w[1] > w[2]) and round(float(w.sum()), 6) == 1.0
    True
    """
    w = 1.0 / (np.arange(n, dtype=float) + offset) ** exponent
    return w / w.sum()
