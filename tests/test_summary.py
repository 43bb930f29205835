"""The summary prints like lmerTest's (and R's summary.lm): R's number formatting and layout.

The R_CASES below are lme4 1.1 / lmerTest 3.1 results (R 4.2) of the shipped data sets: the numbers
R printed from (coefficients, variance components, residual quantiles at full precision) and the
lines it printed.  Feeding R's numbers to mixedpy's formatting must give R's lines exactly; the
summaries of mixedpy's own fits must have R's layout with numbers that agree to the printed digits.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedpy
from mixedpy.present.summary import (
    Summary,
    abbreviate,
    abbreviate_all,
    coefmat,
    correlation_cells,
    format_pval,
    lm_footer,
    print_matrix,
    print_named,
    r_format,
    r_round,
    varcorr_cells,
    zapsmall,
)

R_CASES = {'cake': {'aic': None,
          'coef': [[29.1333333333347, 2.0381026575249, 77.4368231299407, 14.2943404866145,
                    2.01887041406386e-23],
                   [-2.26666666666827, 2.88231241978032, 77.4368231020987, -0.78640561346262,
                    0.434029898141228],
                   [-1.20000000000163, 2.88231241978032, 77.4368231005809, -0.416332383598129,
                    0.67831848952109],
                   [2.39999999999927, 1.65210570517585, 209.999999949755, 1.45269155144272,
                    0.147801968066025],
                   [1.66666666666594, 1.65210570517585, 209.999999941036, 1.00881357739065,
                    0.314225007091549],
                   [4.39999999999927, 1.65210570517585, 209.999999957749, 2.66326784431203,
                    0.00833848401621015],
                   [9.5333333333326, 1.65210570517585, 209.999999962777, 5.77041366267657,
                    2.80952047138313e-08],
                   [5.93333333333261, 1.65210570517585, 209.999999951694, 3.59137633551182,
                    0.000409622695302472],
                   [0.133333333334147, 2.33643029473364, 210.000000013146, 0.057067113722452,
                    0.954545994546689],
                   [-1.39999999999922, 2.33643029473364, 210.000000017363, -0.599204694081758,
                    0.54968227109186],
                   [3.20000000000081, 2.33643029473364, 210.000000008787, 1.36961072933084,
                    0.172271208097237],
                   [2.13333333333411, 2.33643029473364, 210.000000007253, 0.913073819553995,
                    0.362250786105314],
                   [0.866666666667481, 2.33643029473364, 210.000000013201, 0.370936239194024,
                    0.711058942771984],
                   [-1.46666666666589, 2.33643029473364, 210.000000018971, -0.62773825094281,
                    0.530857427361175],
                   [-1.93333333333252, 2.33643029473364, 210.000000021404, -0.827473148970157,
                    0.408908244941862],
                   [-3.06666666666589, 2.33643029473364, 210.000000028292, -1.31254361560806,
                    0.19076946343149],
                   [2.46666666666748, 2.33643029473364, 210.000000018545, 1.05574160385927,
                    0.292299335845683],
                   [1.86666666666745, 2.33643029473364, 210.000000022181, 0.798939592109788,
                    0.425228107319755]],
          'quant': [-2.6466070134793, -0.610818131220243, -0.0520652675016799, 0.569848371610744,
                    2.75373696254186],
          'reml': 1633.24618147233,
          'rows': ['(Intercept)', 'recipeB', 'recipeC', 'temperature185', 'temperature195', 'temperature205',
                   'temperature215', 'temperature225', 'recipeB:temperature185', 'recipeC:temperature185',
                   'recipeB:temperature195', 'recipeC:temperature195', 'recipeB:temperature205',
                   'recipeC:temperature205', 'recipeB:temperature215', 'recipeC:temperature215',
                   'recipeB:temperature225', 'recipeC:temperature225'],
          'sigma': 4.52447781053892,
          'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [", 'lmerModLmerTest]',
                   'Formula: angle ~ recipe * temperature + (1 | recipe:replicate)', '   Data: cake', '',
                   'REML criterion at convergence: 1633.2', '', 'Scaled residuals: ',
                   '     Min       1Q   Median       3Q      Max ',
                   '-2.64661 -0.61082 -0.05207  0.56985  2.75374 ', '', 'Random effects:',
                   ' Groups           Name        Variance Std.Dev.',
                   ' recipe:replicate (Intercept) 41.84    6.468   ',
                   ' Residual                     20.47    4.524   ',
                   'Number of obs: 270, groups:  recipe:replicate, 45', '', 'Fixed effects:',
                   '                       Estimate Std. Error       df t value Pr(>|t|)    ',
                   '(Intercept)             29.1333     2.0381  77.4368  14.294  < 2e-16 ***',
                   'recipeB                 -2.2667     2.8823  77.4368  -0.786  0.43403    ',
                   'recipeC                 -1.2000     2.8823  77.4368  -0.416  0.67832    ',
                   'temperature185           2.4000     1.6521 210.0000   1.453  0.14780    ',
                   'temperature195           1.6667     1.6521 210.0000   1.009  0.31423    ',
                   'temperature205           4.4000     1.6521 210.0000   2.663  0.00834 ** ',
                   'temperature215           9.5333     1.6521 210.0000   5.770 2.81e-08 ***',
                   'temperature225           5.9333     1.6521 210.0000   3.591  0.00041 ***',
                   'recipeB:temperature185   0.1333     2.3364 210.0000   0.057  0.95455    ',
                   'recipeC:temperature185  -1.4000     2.3364 210.0000  -0.599  0.54968    ',
                   'recipeB:temperature195   3.2000     2.3364 210.0000   1.370  0.17227    ',
                   'recipeC:temperature195   2.1333     2.3364 210.0000   0.913  0.36225    ',
                   'recipeB:temperature205   0.8667     2.3364 210.0000   0.371  0.71106    ',
                   'recipeC:temperature205  -1.4667     2.3364 210.0000  -0.628  0.53086    ',
                   'recipeB:temperature215  -1.9333     2.3364 210.0000  -0.827  0.40891    ',
                   'recipeC:temperature215  -3.0667     2.3364 210.0000  -1.313  0.19077    ',
                   'recipeB:temperature225   2.4667     2.3364 210.0000   1.056  0.29230    ',
                   'recipeC:temperature225   1.8667     2.3364 210.0000   0.799  0.42523    ', '---',
                   'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'],
          'vc': [('recipe:replicate', ['(Intercept)'], [[41.8370371810889]])]},
 'cake_temp': {'aic': None,
               'coef': [[1.51587301587353, 3.67894600815322, 257.811814667033, 0.412040027908556,
                         0.68065246586988],
                        [-1.47777777777741, 2.45625334701811, 41.9999997518954, -0.601638987920946,
                         0.550648436305672],
                        [-1.52222222222183, 2.45625334701811, 41.9999997522129, -0.619733393572699,
                         0.538781152766781],
                        [0.158031746031741, 0.0162157743251259, 224.000003728017, 9.74555657122556,
                         6.19274824654091e-19]],
               'quant': [-2.45773705641909, -0.591236969656855, -0.0933866237325151, 0.61031736661648,
                         2.6720514575188],
               'reml': 1693.84431242521,
               'rows': ['(Intercept)', 'recipeB', 'recipeC', 'temp'],
               'sigma': 4.55054038393963,
               'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [",
                        'lmerModLmerTest]', 'Formula: angle ~ recipe + temp + (1 | recipe:replicate)',
                        '   Data: cake', '', 'REML criterion at convergence: 1693.8', '',
                        'Scaled residuals: ', '     Min       1Q   Median       3Q      Max ',
                        '-2.45774 -0.59124 -0.09339  0.61032  2.67205 ', '', 'Random effects:',
                        ' Groups           Name        Variance Std.Dev.',
                        ' recipe:replicate (Intercept) 41.80    6.465   ',
                        ' Residual                     20.71    4.551   ',
                        'Number of obs: 270, groups:  recipe:replicate, 45', '', 'Fixed effects:',
                        '             Estimate Std. Error        df t value Pr(>|t|)    ',
                        '(Intercept)   1.51587    3.67895 257.81181   0.412    0.681    ',
                        'recipeB      -1.47778    2.45625  42.00000  -0.602    0.551    ',
                        'recipeC      -1.52222    2.45625  42.00000  -0.620    0.539    ',
                        'temp          0.15803    0.01622 224.00000   9.746   <2e-16 ***', '---',
                        'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1', '',
                        'Correlation of Fixed Effects:', '        (Intr) recipB recipC',
                        'recipeB -0.334              ', 'recipeC -0.334  0.500       ',
                        'temp    -0.882  0.000  0.000'],
               'vc': [('recipe:replicate', ['(Intercept)'], [[41.7976174878873]])],
               'vcov': [[13.5346437309065, -3.01659025236944, -3.01659025236944, -0.0525902673926853],
                        [-3.01659025236944, 6.03318050473769, 3.01659025236891, 2.66518505617978e-15],
                        [-3.01659025236944, 3.01659025236891, 6.03318050473769, 2.66518505617978e-15],
                        [-0.0525902673926853, 2.66518505617978e-15, 2.66518505617978e-15,
                         0.000262951336963412]]},
 'dyestuff': {'aic': None,
              'coef': [[1527.5, 19.3834121787528, 4.99999998109234, 78.8044945809065, 6.23447599535079e-09]],
              'quant': [-1.41169475888021, -0.763372036057254, 0.14183596706443, 0.779177431884772,
                        1.82961736133983],
              'reml': 319.654276842257,
              'rows': '(Intercept)',
              'sigma': 49.5100999656347,
              'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [",
                       'lmerModLmerTest]', 'Formula: Yield ~ 1 + (1 | Batch)', '   Data: dyestuff', '',
                       'REML criterion at convergence: 319.7', '', 'Scaled residuals: ',
                       '    Min      1Q  Median      3Q     Max ', '-1.4117 -0.7634  0.1418  0.7792  1.8296 ',
                       '', 'Random effects:', ' Groups   Name        Variance Std.Dev.',
                       ' Batch    (Intercept) 1764     42.00   ', ' Residual             2451     49.51   ',
                       'Number of obs: 30, groups:  Batch, 6', '', 'Fixed effects:',
                       '            Estimate Std. Error      df t value Pr(>|t|)    ',
                       '(Intercept)  1527.50      19.38    5.00    78.8 6.23e-09 ***', '---',
                       'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'],
              'vc': [('Batch', ['(Intercept)'], [[1764.0500064271]])],
              'vcov': [[375.716667691422]]},
 'dyestuff2': {'aic': None,
               'coef': [[5.6656, 0.678388031232524, 28.9999999994202, 8.35156243795531, 3.318292749197e-09]],
               'quant': [-1.76484316631699, -0.780636831801127, -0.0809003073982693, 0.668894291442639,
                         2.09070508314275],
               'reml': 161.828277812288,
               'rows': '(Intercept)',
               'sigma': 3.71568427447573,
               'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [",
                        'lmerModLmerTest]', 'Formula: Yield ~ 1 + (1 | Batch)', '   Data: dyestuff2', '',
                        'REML criterion at convergence: 161.8', '', 'Scaled residuals: ',
                        '    Min      1Q  Median      3Q     Max ',
                        '-1.7648 -0.7806 -0.0809  0.6689  2.0907 ', '', 'Random effects:',
                        ' Groups   Name        Variance Std.Dev.', ' Batch    (Intercept)  0.00    0.000   ',
                        ' Residual             13.81    3.716   ', 'Number of obs: 30, groups:  Batch, 6', '',
                        'Fixed effects:', '            Estimate Std. Error      df t value Pr(>|t|)    ',
                        '(Intercept)   5.6656     0.6784 29.0000   8.352 3.32e-09 ***', '---',
                        'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1',
                        'optimizer (nloptwrap) convergence code: 0 (OK)',
                        "boundary (singular) fit: see help('isSingular')", ''],
               'vc': [('Batch', ['(Intercept)'], [[0]])],
               'vcov': [[0.46021032091954]]},
 'lm_sleep': {'adj': 0.282462807439776,
              'coef': [[251.405104848485, 6.61015404428758, 38.0331688435834, 2.15688828181262e-87],
                       [10.467285959596, 1.23819529804982, 8.4536631467444, 9.89409632221516e-15]],
              'f': [71.4644205986245, 1, 178],
              'r2': 0.28647139510771,
              'resid': [-1.84510484848456, -3.16769080808084, -21.5390767676768, 38.6328372727273,
                        63.5776513131313, 110.948565353535, 67.9949793939394, -34.5275065656566,
                        95.4419074747475, 120.742821515152, -28.6712048484849, -56.6065908080808,
                        -69.3618767676768, -78.0999627272727, -85.5581486868687, -87.7797346464646,
                        -100.578520606061, -106.948906565657, -110.847692525252, -108.296478484848,
                        -52.3512048484849, -67.5401908080808, -38.0196767676768, -49.9653627272727,
                        -63.9668486868687, -83.2836346464646, -78.7880206060606, -68.9250065656565,
                        -74.1308925252525, -98.0953784848485, 70.1374951515152, 38.5278091919192,
                        11.5168232323232, 2.32603727272725, -7.47694868686868, -6.15603464646462,
                        -33.9692206060606, -6.41480656565655, -29.7938925252525, 8.43802151515152,
                        36.2027951515151, 23.1276091919192, 29.4809232323232, 37.3083372727273,
                        23.0030513131313, -10.4228346464647, -24.1338206060606, 10.1415934343434,
                        -41.3964925252525, 25.9704215151515, -16.5445048484849, -19.0605908080808,
                        0.621623232323226, 26.9618372727273, 24.1886513131313, 6.25606535353533,
                        139.953079393939, 22.1549934343434, -4.84309252525253, -91.7462784848485,
                        32.4372951515151, 27.6826091919192, 4.42962323232322, 17.0027372727273,
                        3.8967513131313, 34.4249653535353, 17.8176793939394, 24.1637934343434,
                        -1.78339252525251, 16.4321215151515, 14.0679951515151, 14.3288091919192,
                        -28.9749767676768, -28.1346627272727, -14.2498486868687, -19.5503346464647,
                        -8.68402060606058, 6.84679343434343, 0.603507474747461, 31.6883215151515,
                        -9.79680484848484, 12.0748091919192, -17.8489767676768, -12.0048627272727,
                        -41.8223486868687, -49.1053346464646, -68.7565206060606, -89.3651065656565,
                        -99.3892925252525, -108.364078484848, 60.9614951515151, 51.9334091919192,
                        19.2715232323232, 63.3152372727273, 72.4581513131313, 88.0969653535354,
                        90.0512793939394, 92.0161934343434, 120.720907474748, 113.306021515152,
                        -15.3019048484849, -31.5556908080808, -33.4140767676768, -27.8849627272727,
                        -42.5639486868687, -33.9671346464646, -32.6440206060606, -16.5741065656566,
                        1.13720747474747, 6.03442151515153, 4.89169515151516, -18.4180908080808,
                        -16.1350767676767, -27.2798627272727, -24.3577486868687, 25.9831653535353,
                        65.2356793939394, 38.2422934343435, 59.3438074747475, 43.4420215151515,
                        -0.878604848484859, 38.1852091919192, -2.44577676767679, -2.21786272727276,
                        -21.4468486868687, 0.892065353535355, -26.4622206060606, -58.0806065656566,
                        -13.6015925252525, 1.95482151515151, -29.7280048484849, 36.3215091919192,
                        54.5388232323232, 64.0485372727273, 55.4659513131313, 49.0871653535354,
                        40.2177793939394, 35.7564934343434, 40.4972074747475, 42.9310215151515,
                        20.5183951515151, 6.56450919191917, -15.0972767676768, -5.1503627272727,
                        21.5479513131313, 13.4719653535354, -16.0735206060606, 23.4467934343435,
                        5.13660747474745, 20.9024215151515, -26.1411048484848, -27.3488908080808,
                        -33.4388767676768, -42.3339627272727, -25.7369486868687, 40.4521653535353,
                        -33.0607206060606, 22.9093934343435, 30.0196074747475, 26.6181215151515,
                        18.4752951515152, 10.5704091919192, 5.55922323232326, -1.01746272727275,
                        -14.1037486868687, -19.2295346464646, -54.9430206060606, -20.0455065656565,
                        15.6373074747475, 23.8585215151515, 18.0065951515151, 11.6016091919192,
                        25.2571232323232, 27.8246372727273, -6.1016486868687, 25.8660653535353,
                        20.2729793939394, 18.5437934343434, 33.9983074747475, 18.5129215151515],
              'rows': ['(Intercept)', 'Days'],
              'sigma': 47.7147197437785,
              'text': ['', 'Call:', 'lm(formula = Reaction ~ Days, data = sleepstudy)', '', 'Residuals:',
                       '     Min       1Q   Median       3Q      Max ',
                       '-110.848  -27.483    1.546   26.142  139.953 ', '', 'Coefficients:',
                       '            Estimate Std. Error t value Pr(>|t|)    ',
                       '(Intercept)  251.405      6.610  38.033  < 2e-16 ***',
                       'Days          10.467      1.238   8.454 9.89e-15 ***', '---',
                       'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1', '',
                       'Residual standard error: 47.71 on 178 degrees of freedom',
                       'Multiple R-squared:  0.2865,\tAdjusted R-squared:  0.2825 ',
                       'F-statistic: 71.46 on 1 and 178 DF,  p-value: 9.894e-15', '']},
 'pastes': {'aic': None,
            'coef': [[60.0533333333354, 0.676870215074031, 8.99999754463259, 88.7220799437411,
                      1.48784721703534e-14]],
            'quant': [-1.47977603107528, -0.515577976363109, 0.00949804852060413, 0.471996639441618,
                      1.38969584407111],
            'reml': 246.990745853487,
            'rows': '(Intercept)',
            'sigma': 0.823407523446778,
            'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [",
                     'lmerModLmerTest]', 'Formula: strength ~ 1 + (1 | batch/cask)', '   Data: pastes', '',
                     'REML criterion at convergence: 247', '', 'Scaled residuals: ',
                     '    Min      1Q  Median      3Q     Max ', '-1.4798 -0.5156  0.0095  0.4720  1.3897 ',
                     '', 'Random effects:', ' Groups     Name        Variance Std.Dev.',
                     ' cask:batch (Intercept) 8.434    2.9041  ', ' batch      (Intercept) 1.657    1.2874  ',
                     ' Residual               0.678    0.8234  ',
                     'Number of obs: 60, groups:  cask:batch, 30; batch, 10', '', 'Fixed effects:',
                     '            Estimate Std. Error      df t value Pr(>|t|)    ',
                     '(Intercept)  60.0533     0.6769  9.0000   88.72 1.49e-14 ***', '---',
                     'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'],
            'vc': [('cask:batch', ['(Intercept)'], [[8.43366593129485]]),
                   ('batch', ['(Intercept)'], [[1.65731091183376]])],
            'vcov': [[0.458153288054365]]},
 'penicillin': {'aic': None,
                'coef': [[22.9722222222137, 0.808595361420651, 5.48659242477372, 28.4100346332101,
                          3.62351977066194e-07]],
                'quant': [-2.07923366547833, -0.671396851014064, 0.0629221638292737, 0.583771205070324,
                          2.97958580516534],
                'reml': 330.860588999606,
                'rows': '(Intercept)',
                'sigma': 0.549922682070483,
                'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [",
                         'lmerModLmerTest]', 'Formula: diameter ~ 1 + (1 | plate) + (1 | sample)',
                         '   Data: penicillin', '', 'REML criterion at convergence: 330.9', '',
                         'Scaled residuals: ', '     Min       1Q   Median       3Q      Max ',
                         '-2.07923 -0.67140  0.06292  0.58377  2.97959 ', '', 'Random effects:',
                         ' Groups   Name        Variance Std.Dev.', ' plate    (Intercept) 0.7169   0.8467  ',
                         ' sample   (Intercept) 3.7311   1.9316  ', ' Residual             0.3024   0.5499  ',
                         'Number of obs: 144, groups:  plate, 24; sample, 6', '', 'Fixed effects:',
                         '            Estimate Std. Error      df t value Pr(>|t|)    ',
                         '(Intercept)  22.9722     0.8086  5.4866   28.41 3.62e-07 ***', '---',
                         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'],
                'vc': [('plate', ['(Intercept)'], [[0.716905140876719]]),
                       ('sample', ['(Intercept)'], [[3.73113184267277]])],
                'vcov': [[0.653826458510993]]},
 'sleep_ml': {'aic': [1763.93934448899, 1783.09708559433, -875.969672244495, 1751.93934448899, 174],
              'coef': [[251.405104848486, 6.63212274219029, 18.0011347663803, 37.9071851685088,
                        1.2637519375195e-18],
                       [10.4672859595958, 1.50223021383204, 18.0001769285147, 6.9678308046373,
                        1.65222790511593e-06]],
              'quant': [-3.94155241672159, -0.465589375628008, 0.0289447552658257, 0.463614465396744,
                        5.17932342919295],
              'reml': None,
              'rows': ['(Intercept)', 'Days'],
              'sigma': 25.591907036487,
              'text': ["Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's",
                       '  method [lmerModLmerTest]', 'Formula: Reaction ~ Days + (Days | Subject)',
                       '   Data: sleepstudy', '', '     AIC      BIC   logLik deviance df.resid ',
                       '  1763.9   1783.1   -876.0   1751.9      174 ', '', 'Scaled residuals: ',
                       '    Min      1Q  Median      3Q     Max ', '-3.9416 -0.4656  0.0289  0.4636  5.1793 ',
                       '', 'Random effects:', ' Groups   Name        Variance Std.Dev. Corr',
                       ' Subject  (Intercept) 565.48   23.780       ',
                       '          Days         32.68    5.717   0.08',
                       ' Residual             654.95   25.592       ',
                       'Number of obs: 180, groups:  Subject, 18', '', 'Fixed effects:',
                       '            Estimate Std. Error      df t value Pr(>|t|)    ',
                       '(Intercept)  251.405      6.632  18.001  37.907  < 2e-16 ***',
                       'Days          10.467      1.502  18.000   6.968 1.65e-06 ***', '---',
                       'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1', '',
                       'Correlation of Fixed Effects:', '     (Intr)', 'Days -0.138'],
              'vc': [('Subject', ['(Intercept)', 'Days'],
                      [[565.476966132419, 11.0551223919533], [11.0551223919533, 32.6817852488527]])],
              'vcov': [[43.9850520674777, -1.37051049064159], [-1.37051049064159, 2.25669561534986]]},
 'sleep_reml': {'aic': None,
                'coef': [[251.405104848485, 6.82459669495491, 16.9997262884927, 36.8380896462844,
                          1.17155811120826e-17],
                         [10.467285959596, 1.54578964390598, 16.9999837255917, 6.77148148899918,
                          3.26382446992738e-06]],
                'quant': [-3.95356734536703, -0.463397683127066, 0.0231176647794387, 0.463402078150267,
                          5.17926037341145],
                'reml': 1743.62827195995,
                'rows': ['(Intercept)', 'Days'],
                'sigma': 25.5917957216753,
                'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [",
                         'lmerModLmerTest]', 'Formula: Reaction ~ Days + (Days | Subject)',
                         '   Data: sleepstudy', '', 'REML criterion at convergence: 1743.6', '',
                         'Scaled residuals: ', '    Min      1Q  Median      3Q     Max ',
                         '-3.9536 -0.4634  0.0231  0.4634  5.1793 ', '', 'Random effects:',
                         ' Groups   Name        Variance Std.Dev. Corr',
                         ' Subject  (Intercept) 612.10   24.741       ',
                         '          Days         35.07    5.922   0.07',
                         ' Residual             654.94   25.592       ',
                         'Number of obs: 180, groups:  Subject, 18', '', 'Fixed effects:',
                         '            Estimate Std. Error      df t value Pr(>|t|)    ',
                         '(Intercept)  251.405      6.825  17.000  36.838  < 2e-16 ***',
                         'Days          10.467      1.546  17.000   6.771 3.26e-06 ***', '---',
                         'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1', '',
                         'Correlation of Fixed Effects:', '     (Intr)', 'Days -0.138'],
                'vc': [('Subject', ['(Intercept)', 'Days'],
                        [[612.100158024769, 9.60440895115776], [9.60440895115776, 35.0717144509388]])],
                'vcov': [[46.5751200487894, -1.45108841663252], [-1.45108841663252, 2.38946562320698]]},
 'sleep_uncorr': {'aic': None,
                  'coef': [[251.405104848483, 6.88538081723721, 18.1561960496399, 36.512883095602,
                            1.89338069062316e-18],
                           [10.467285959596, 1.55956909806857, 18.1560912912543, 6.71165257926638,
                            2.59409711410537e-06]],
                  'quant': [-3.96258729720235, -0.46251714753716, 0.0203983373664721, 0.465257300333732,
                            5.18602070134667],
                  'reml': 1743.66929358148,
                  'rows': ['(Intercept)', 'Days'],
                  'sigma': 25.5652792015696,
                  'text': ["Linear mixed model fit by REML. t-tests use Satterthwaite's method [",
                           'lmerModLmerTest]', 'Formula: Reaction ~ Days + (Days || Subject)',
                           '   Data: sleepstudy', '', 'REML criterion at convergence: 1743.7', '',
                           'Scaled residuals: ', '    Min      1Q  Median      3Q     Max ',
                           '-3.9626 -0.4625  0.0204  0.4653  5.1860 ', '', 'Random effects:',
                           ' Groups    Name        Variance Std.Dev.',
                           ' Subject   (Intercept) 627.57   25.051  ',
                           ' Subject.1 Days         35.86    5.988  ',
                           ' Residual              653.58   25.565  ',
                           'Number of obs: 180, groups:  Subject, 18', '', 'Fixed effects:',
                           '            Estimate Std. Error      df t value Pr(>|t|)    ',
                           '(Intercept)  251.405      6.885  18.156  36.513  < 2e-16 ***',
                           'Days          10.467      1.560  18.156   6.712 2.59e-06 ***', '---',
                           'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1', '',
                           'Correlation of Fixed Effects:', '     (Intr)', 'Days -0.184'],
                  'vc': [('Subject', ['(Intercept)'], [[627.56905083573]]),
                         ('Subject.1', ['Days'], [[35.8583796393533]])],
                  'vcov': [[47.4084689983782, -1.98055606258841], [-1.98055606258841, 2.4322557716504]]}}

FORMULAS = {
    "sleep_reml": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    "sleep_ml": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", False),
    "sleep_uncorr": ("Reaction ~ Days + (Days || Subject)", "sleepstudy", True),
    "dyestuff": ("Yield ~ 1 + (1 | Batch)", "dyestuff", True),
    "dyestuff2": ("Yield ~ 1 + (1 | Batch)", "dyestuff2", True),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin", True),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", "pastes", True),
    "cake": ("angle ~ recipe * temperature + (1 | recipe:replicate)", "cake", True),
    "cake_temp": ("angle ~ recipe + temp + (1 | recipe:replicate)", "cake", True),
}
MIXED = sorted(FORMULAS)
LEGEND = ("Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 "
          "\u2018 \u2019 1")


def case_of(name: str) -> dict:
    """An R case with one-row tables as lists of rows (R's JSON unboxes them)."""
    case = dict(R_CASES[name])
    if isinstance(case["rows"], str):
        case["rows"] = [case["rows"]]
    case["coef"] = np.atleast_2d(np.array(case["coef"], dtype=float)).tolist()
    if "vcov" in case:
        case["vcov"] = np.atleast_2d(np.array(case["vcov"], dtype=float)).tolist()
    return case


def block(lines: list[str], title: str) -> list[str]:
    """The lines after ``title`` up to the next blank line (or ``---``)."""
    start = lines.index(title) + 1
    out = []
    for line in lines[start:]:
        if not line.strip() or line == "---":
            break
        out.append(line)
    return out


@pytest.fixture(scope="module")
def fits():
    cache = {}

    def get(name):
        if name not in cache:
            formula, data, reml = FORMULAS[name]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[name] = mixedpy.fit(formula, mixedpy.datasets.load(data), reml=reml)
        return cache[name]

    return get


# --- R's formatting primitives ---------------------------------------------------------------------------
@pytest.mark.parametrize("values, kwargs, expected", [
    ([0.1, 123456789, 1e-10], {}, ["1.000000e-01", "1.234568e+08", "1.000000e-10"]),
    ([99.99], {"digits": 3}, ["100"]),
    ([99.99, 0.1234], {"digits": 3}, ["99.990", " 0.123"]),
    ([-0.0001, 1.5], {"digits": 2}, ["-0.0001", " 1.5000"]),
    ([1e5], {}, ["1e+05"]),
    ([123456.7], {"digits": 4}, ["123457"]),
    ([1e-20, 1], {"digits": 3}, ["1e-20", "1e+00"]),
    ([0.00041], {"digits": 3}, ["0.00041"]),
    ([1e100], {"digits": 3}, ["1e+100"]),
    ([612.100158, 35.0717145, 654.940], {"digits": 4}, ["612.10", " 35.07", "654.94"]),
    ([0.5, -0.0], {"digits": 7, "nsmall": 3}, ["0.500", "0.000"]),
    ([np.nan, 1.5], {"na": "NA"}, [" NA", "1.5"]),
])
def test_r_format_matches_r(values, kwargs, expected):
    assert r_format(values, **kwargs) == expected


def test_format_pval_matches_r():
    assert format_pval([0.43403, 0.00834, 2.81e-08, 0.00041, 1e-20], 3) == \
        ["0.43403", "0.00834", "2.81e-08", "0.00041", "< 2e-16"]
    assert format_pval([0.681, 0.551, 1e-20], 3) == ["0.681", "0.551", "<2e-16"]
    assert format_pval([np.nan, 0.5], 3) == ["NA", "0.5"]


def test_abbreviate_matches_r():
    names = ["(Intercept)", "recipe[T.B]", "temperature185", "Days", "I(Days^2)", "recipeB:temperature185",
             "recipeB:temperature195", "x1", "log(weight)", "Sex[T.Male]", "age in years", "TimeSinceStart",
             "DietA", "AAAAAAAAA", "aaaaaaaaaa"]
    assert abbreviate_all(names, 6) == ["(Intr)", "r[T.B]", "tmp185", "Days", "I(D^2)", "rB:185", "rB:195",
                                        "x1", "lg(wg)", "S[T.M]", "aginyr", "TmSncS", "DietA", "AAAAAA",
                                        "aaaaaa"]
    assert abbreviate_all(names, 11) == ["(Intercept)", "recipe[T.B]", "tempertr185", "Days", "I(Days^2)",
                                         "rcpB:tmp185", "rcpB:tmp195", "x1", "log(weight)", "Sex[T.Male]",
                                         "ageinyears", "TimeSncStrt", "DietA", "AAAAAAAAA", "aaaaaaaaaa"]
    assert abbreviate("Days", 6) == "Days"


def test_abbreviations_are_made_unique():
    out = abbreviate_all(["aaaaaaaaaa1", "aaaaaaaaaa2"], 6)
    assert len(set(out)) == 2


def test_zapsmall_as_r():
    q = zapsmall(np.array([-110.8481, -27.48346, 1.546123, 26.14228, 139.953]), 5)
    assert r_format(q, 4) == ["-110.848", " -27.483", "   1.546", "  26.142", " 139.953"]


# --- R's numbers through mixedpy's formatting give R's lines ---------------------------------------------
@pytest.mark.parametrize("name", MIXED)
def test_fixed_effects_block_matches_r(name):
    case = case_of(name)
    tab = pd.DataFrame(case["coef"], index=case["rows"],
                       columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])
    rows, cols, cells, stars = coefmat(tab, [0, 1, 2], [3], True)
    assert print_matrix(cells, rows, cols, right=True) == block(case["text"], "Fixed effects:")
    assert stars == (LEGEND in case["text"])


@pytest.mark.parametrize("name", MIXED)
def test_random_effects_block_matches_r(name):
    case = case_of(name)
    blocks = [(label, names, np.atleast_2d(cov)) for label, names, cov in case["vc"]]
    cols, rows = varcorr_cells(blocks, case["sigma"])
    expected = block(case["text"], "Random effects:")[:-1]  # without "Number of obs"
    assert print_matrix(rows, [""] * len(rows), cols, right=False) == expected


@pytest.mark.parametrize("name", [n for n in MIXED if "vcov" in R_CASES[n] and len(case_of(n)["rows"]) > 1])
def test_correlation_block_matches_r(name):
    case = case_of(name)
    rn, cn, cells = correlation_cells(np.array(case["vcov"]), case["rows"])
    assert print_matrix(cells, rn, cn, right=False) == block(case["text"], "Correlation of Fixed Effects:")


@pytest.mark.parametrize("name", MIXED)
def test_residual_quantiles_match_r(name):
    case = case_of(name)
    q = zapsmall(np.array(case["quant"]), 5)
    lines = print_named(["Min", "1Q", "Median", "3Q", "Max"], r_format(q, 4))
    assert lines == block(case["text"], "Scaled residuals: ")


@pytest.mark.parametrize("name", MIXED)
def test_criterion_line_matches_r(name):
    case = case_of(name)
    if case["reml"] is not None:
        assert f"REML criterion at convergence: {r_format([r_round(case['reml'], 1)])[0]}" in case["text"]
    else:
        vals = [r_round(v, 1) for v in case["aic"][:4]]
        strings = r_format(vals + [case["aic"][4]])[:4] + [r_format([case["aic"][4]])[0]]
        lines = print_named(["AIC", "BIC", "logLik", "deviance", "df.resid"], strings)
        i = case["text"].index(lines[0])
        assert case["text"][i + 1] == lines[1]


def test_lm_blocks_match_r():
    case = case_of("lm_sleep")
    tab = pd.DataFrame(case["coef"], index=case["rows"],
                       columns=["Estimate", "Std. Error", "t value", "Pr(>|t|)"])
    rows, cols, cells, _ = coefmat(tab, [0, 1], [2], True)
    assert print_matrix(cells, rows, cols, right=True) == block(case["text"], "Coefficients:")
    q = zapsmall(np.quantile(case["resid"], [0, 0.25, 0.5, 0.75, 1]), 5)
    lines = print_named(["Min", "1Q", "Median", "3Q", "Max"], r_format(q, 4))
    assert lines == block(case["text"], "Residuals:")
    n, p = len(case["resid"]), len(case["rows"])
    footer = lm_footer(case["sigma"], n - p, case["r2"], case["adj"], case["f"][0], p - 1)
    start = case["text"].index(footer[0])
    assert case["text"][start:start + 3] == footer


# --- mixedpy's own summaries ------------------------------------------------------------------------------
NUMERIC = re.compile(r"^<?-?\d*\.?\d+(e[-+]\d+)?$")


def _close(a: str, b: str) -> bool:
    try:
        x, y = float(a.lstrip("<")), float(b.lstrip("<"))
    except ValueError:
        return a == b
    return np.isclose(x, y, rtol=1e-2, atol=2e-3)


@pytest.mark.parametrize("name", MIXED)
def test_summary_layout_matches_r(fits, name):
    """Same lines and column positions as lmerTest; numbers agree to the printed digits (fits differ from
    lme4's in the last digits).  Coefficient names of factors differ (formulaic's ``recipe[T.B]``, R's
    ``recipeB``): there only the numbers are compared."""
    m = fits(name)
    ours = [s for s in str(m.summary()).splitlines()[1:]
            if s and not s.startswith(("Correlation matrix not shown", "Use s = m.summary()"))]
    # R wraps the title at 80 characters and names its class; it also prints the optimizer's status line
    theirs = [s.replace("see help('isSingular')", "see LmmResult.is_singular")
              for s in R_CASES[name]["text"][2:] if s and not s.startswith("optimizer (")]
    same_names = not any("[T." in c for c in m.coef_names)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if b.startswith("Formula:"):
            continue  # mixedpy prints the formula as given; R deparses it
        ta, tb = a.split(), b.split()
        if same_names:
            assert len(ta) == len(tb) and all(_close(x, y) for x, y in zip(ta, tb)), (a, b)
            if not any(c.isdigit() for c in b) or b.startswith(("Number of obs", "Signif")):
                assert a == b
            else:  # numbers may differ in their last digits, never in their width
                assert len(a.rstrip()) == len(b.rstrip()), (a, b)
        else:
            na, nb = [x for x in ta if NUMERIC.match(x)], [y for y in tb if NUMERIC.match(y)]
            assert len(na) == len(nb) and all(_close(x, y) for x, y in zip(na, nb)), (a, b)


def test_summary_text_of_sleepstudy(fits):
    text = str(fits("sleep_reml").summary())
    lines = text.splitlines()
    assert lines[0] == "Linear mixed model fit by REML. t-tests use Satterthwaite's method [mixedpy]"
    assert lines[1] == "Formula: Reaction ~ Days + (Days | Subject)"
    assert lines[2] == "   Data: sleepstudy"
    assert "REML criterion at convergence: 1743.6" in lines
    fixed = block(lines, "Fixed effects:")
    assert fixed[0] == "            Estimate Std. Error      df t value Pr(>|t|)    "
    assert fixed[1].startswith("(Intercept)  251.405      6.825  1")  # df ~ 17.000 (lmerTest)
    assert fixed[2].endswith(" ***")
    assert block(lines, "Correlation of Fixed Effects:") == ["     (Intr)", "Days -0.138"]


def test_ml_header_and_correlation_switch(fits):
    m = fits("sleep_ml")
    lines = str(m.summary()).splitlines()
    assert lines[0].startswith("Linear mixed model fit by maximum likelihood.")
    assert lines[4] == "     AIC      BIC   logLik deviance df.resid "
    assert lines[5].split()[-1] == "174"
    s = m.summary()
    s.correlation = False
    assert "Correlation of Fixed Effects:" not in str(s)


def test_many_coefficients_hide_the_correlation(fits):
    m = fits("cake")
    text = str(m.summary())
    assert "Correlation of Fixed Effects:" not in text
    assert "Correlation matrix not shown by default, as p = 18 > 12." in text
    assert "Correlation of Fixed Effects:" in str(Summary(m, correlation=True))


def test_singular_fit_is_reported(fits):
    last = str(fits("dyestuff2").summary()).splitlines()[-1]
    assert last == "boundary (singular) fit: see LmmResult.is_singular"


def test_no_stars_without_small_p_values(fits):
    text = str(fits("dyestuff2").summary())
    assert "***" in text
    tab = pd.DataFrame({"Estimate": [0.1], "Std. Error": [1.0], "df": [3.0], "t value": [0.1],
                        "Pr(>|t|)": [0.9]}, index=["x"])
    _, cols, _, stars = coefmat(tab, [0, 1, 2], [3], True)
    assert not stars and cols[-1] == "Pr(>|t|)"


def test_least_squares_summary_matches_summary_lm():
    """The lecture's Brassica napus example: mixedpy's text equals R's summary(lm()) after the call."""
    d = pd.DataFrame({"flowering": [3.4, 3.7, 3.2, 2.9, 2.5, 3.1, 2.6], "x": [-1, -1, -1, 0, 0, 1, 1]},
                     index=range(1, 8))
    d["dom"] = 1 - d["x"].abs()
    m = mixedpy.fit("flowering ~ x + dom", d)
    r_text = """Residuals:
       1        2        3        4        5        6        7 
-0.03333  0.26667 -0.23333  0.20000 -0.20000  0.25000 -0.25000 

Coefficients:
            Estimate Std. Error t value Pr(>|t|)    
(Intercept)   3.1417     0.1314  23.903 1.82e-05 ***
x            -0.2917     0.1314  -2.219   0.0907 .  
dom          -0.4417     0.2423  -1.822   0.1425    
---
Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 \u2018.\u2019 0.1 \u2018 \u2019 1

Residual standard error: 0.288 on 4 degrees of freedom
Multiple R-squared:  0.6977,\tAdjusted R-squared:  0.5465 
F-statistic: 4.616 on 2 and 4 DF,  p-value: 0.09139"""
    text = str(m.summary())
    assert text.splitlines()[0] == "Linear model fit by least squares [mixedpy]"
    assert text[text.index("Residuals:"):] == r_text


def test_html_summary(fits):
    s = fits("sleep_reml").summary()
    html = s._repr_html_()
    assert html.startswith("<div class='mixedpy-summary'>") and html.endswith("</div>")
    assert html.count("<table") == 4  # scaled residuals, random effects, fixed effects, correlation
    assert "Scaled residuals" in html and "Signif. codes" in html and "REML criterion" in html
    assert "&lt; 2e-16" in html and "< 2e-16" not in html
    assert "<th>Std. Error</th>" in html and "251.405" in html and "Subject" in html
    lm = mixedpy.fit("Reaction ~ Days", mixedpy.datasets.load("sleepstudy"))
    html = lm.summary()._repr_html_()
    assert html.count("<table") == 2 and "Residual standard error" in html  # residuals, coefficients


def test_repr_is_short(fits):
    r = repr(fits("sleep_reml"))
    assert "\n" not in r and len(r) < 200 and "LmmResult" in r
